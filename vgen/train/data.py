"""Training data: clips of a manifest (decoded with PyAV) or a latent cache, grouped into (frames, height, width)
buckets and served as a deterministic, resumable stream of global batches.

Every random choice (order, caption dropout, noise, t) comes from a generator seeded by the recipe seed and the
sample's place in the stream, never from global RNG state: a resumed run, or a run split over N processes, sees
exactly the same samples with exactly the same noise.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vgen import console
from vgen.errors import UserError
from vgen.io.manifest import read_manifest

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
Bucket = tuple[int, int, int]  # (frames, height, width)


def generator(*keys) -> torch.Generator:
    """A CPU generator seeded from ``keys`` (ints and strings), the same on every run and every rank."""
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


@dataclass
class Geometry:
    """How pixels become latent tokens for one pipeline."""

    temporal: int  # frames -> latent frames: (T - 1) // temporal + 1
    spatial: int  # pixels -> latent pixels
    patch: int  # latent pixels per token side

    @classmethod
    def of(cls, pipe) -> Geometry:
        return cls(pipe.temporal_compression, pipe.spatial_compression,
                   max(1, pipe.size_multiple // pipe.spatial_compression))

    def tokens(self, bucket: Bucket) -> int:
        f, h, w = bucket
        return ((f - 1) // self.temporal + 1) * (h // self.spatial // self.patch) * (w // self.spatial // self.patch)


@dataclass
class Clip:
    """One training sample's source."""

    index: int
    path: Path
    caption: str
    frames: int
    height: int
    width: int

    @property
    def is_image(self) -> bool:
        return self.frames == 1 or self.path.suffix.lower() in IMAGE_SUFFIXES


def read_clips(manifest: Path) -> list[Clip]:
    """The kept clips of a manifest (paths resolved against its folder)."""
    manifest = Path(manifest)
    path = manifest / "manifest.jsonl" if manifest.is_dir() else manifest
    records = read_manifest(path, status="kept")
    if not records:
        raise UserError(f"{path}: no kept clips to train on")
    return [Clip(i, r.resolve(path), r.caption or "", r.frames, r.height, r.width) for i, r in enumerate(records)]


def assign_bucket(clip: Clip, buckets: list[Bucket]) -> int | None:
    """The bucket a clip trains in: the longest that it fills (images: 1 frame), then the nearest aspect ratio."""
    frames = 1 if clip.is_image else clip.frames
    fitting = [i for i, b in enumerate(buckets) if b[0] <= frames]
    if not clip.is_image:  # a video prefers video buckets; an image bucket takes its first frame otherwise
        video = [i for i in fitting if buckets[i][0] > 1]
        fitting = video or fitting
    if not fitting:
        return None
    longest = max(buckets[i][0] for i in fitting)
    aspect = math.log(clip.height / clip.width)
    return min((i for i in fitting if buckets[i][0] == longest),
               key=lambda i: abs(math.log(buckets[i][1] / buckets[i][2]) - aspect))


def batch_size(bucket: Bucket, geometry: Geometry, tokens_per_batch: int, max_batch: int, world: int) -> int:
    """The global batch of a bucket under the token budget, a multiple of the number of processes."""
    size = max(1, min(max_batch, tokens_per_batch // max(1, geometry.tokens(bucket))))
    return max(world, size // world * world)


@dataclass
class BatchStream:
    """An endless, seeded sequence of global batches (bucket, sample ids); ``at(position)`` is O(1) to resume."""

    groups: dict[int, list[int]]  # bucket index -> sample ids
    sizes: dict[int, int]  # bucket index -> global batch size
    seed: int
    stage: int
    _epochs: dict[int, list[tuple[int, list[int]]]] = field(default_factory=dict)

    def __post_init__(self):
        self.groups = {b: ids for b, ids in self.groups.items() if ids}
        if not self.groups:
            raise UserError("no clip fits any bucket of this stage: add buckets with fewer frames or other sizes")

    def _epoch(self, epoch: int) -> list[tuple[int, list[int]]]:
        if epoch not in self._epochs:
            gen = generator("epoch", self.seed, self.stage, epoch)
            batches = []
            for b in sorted(self.groups):
                ids, size = self.groups[b], self.sizes[b]
                perm = [ids[i] for i in torch.randperm(len(ids), generator=gen).tolist()]
                n = max(1, len(perm) // size)
                perm = (perm * -(-n * size // len(perm)))[: n * size]  # a small bucket repeats to fill one batch
                batches += [(b, perm[i * size:(i + 1) * size]) for i in range(n)]
            order = torch.randperm(len(batches), generator=gen).tolist()
            self._epochs = {epoch: [batches[i] for i in order]}  # keep one epoch in memory
        return self._epochs[epoch]

    def __len__(self) -> int:
        return len(self._epoch(0))

    def at(self, position: int) -> tuple[int, list[int]]:
        epoch, i = divmod(position, len(self))
        return self._epoch(epoch)[i]


def load_pixels(clip: Clip, bucket: Bucket) -> torch.Tensor:
    """Decode a clip into (3, F, H, W) in [-1, 1] at the bucket's size: the first F frames, resized to cover and
    centre-cropped. A missing or corrupt file raises UserError."""
    from vgen.io.video import read_video

    f, h, w = bucket
    if Path(clip.path).suffix == ".npz":  # frames stored as an array (`vgen datasets shapes --format npz`): no codec
        frames = torch.from_numpy(_npz_frames(clip.path)[:f])
    else:
        frames = torch.from_numpy(read_video(clip.path, audio=False, max_frames=f).frames)  # (T, H, W, 3) uint8
    if len(frames) < f:  # shorter than the manifest says: hold the last frame
        frames = torch.cat([frames, frames[-1:].expand(f - len(frames), -1, -1, -1)])
    x = frames.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (F, 3, H, W)
    scale = max(h / x.shape[2], w / x.shape[3])
    size = (max(h, round(x.shape[2] * scale)), max(w, round(x.shape[3] * scale)))
    if size != tuple(x.shape[2:]):
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - h) // 2, (size[1] - w) // 2
    x = x[:, :, top:top + h, left:left + w].clamp(-1, 1)
    return x.permute(1, 0, 2, 3).contiguous()


def _npz_frames(path):
    """The (T, H, W, 3) uint8 ``frames`` array of an .npz clip; UserError naming a missing or unreadable file."""
    import numpy as np

    try:
        with np.load(path) as data:
            return np.ascontiguousarray(data["frames"])
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"{path}: cannot read the frames of an .npz clip: {exc}") from None


class BadClips:
    """Clips that could not be read: skipped, one log line each, counted."""

    def __init__(self, rank: int = 0):
        self.ids: set[int] = set()
        self.rank = rank

    def add(self, clip_id: int, reason: str) -> None:
        if clip_id not in self.ids:
            self.ids.add(clip_id)
            console.warn(f"[rank {self.rank}] skipping clip {clip_id}: {reason}")

    def __len__(self) -> int:
        return len(self.ids)


# ----------------------------------------------------------------------------------------------- latent cache

CACHE_INDEX = "index.jsonl"
CACHE_META = "meta.json"
NULL_TEXT = "null_text.safetensors"


def text_to_tensors(prefix: str, text: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # own, contiguous storage: safetensors refuses views into a batch
    return {f"{prefix}.text.{k}": v.detach().cpu().clone(memory_format=torch.contiguous_format)
            for k, v in text.items()}


class CacheShards:
    """Samples written into safetensors shards of ``size`` samples each, and their index entries."""

    def __init__(self, folder: Path, size: int):
        self.folder, self.size = folder, size
        self.index: list[dict] = []
        self.tensors: dict[str, torch.Tensor] = {}
        self.count = self.flushed = 0  # shards written; samples in them

    def add(self, latents: torch.Tensor, text: dict[str, torch.Tensor], record: dict) -> None:
        key = f"s{len(self.index)}"
        self.tensors[f"{key}.latents"] = latents.detach().cpu().clone(memory_format=torch.contiguous_format)
        self.tensors.update(text_to_tensors(key, text))
        self.index.append({"shard": f"shard-{self.count:05d}.safetensors", "key": key, **record})
        if len(self.index) - self.flushed >= self.size:
            self.flush()

    def flush(self) -> None:
        from safetensors.torch import save_file

        self.flushed = len(self.index)
        if self.tensors:
            save_file(self.tensors, str(self.folder / f"shard-{self.count:05d}.safetensors"), metadata={"format": "pt"})
            self.count += 1
            self.tensors = {}


def _by_bucket(clips: list[Clip], stages) -> dict[Bucket, list[tuple[int, Clip]]]:
    """Every (clip, bucket) the stages use, grouped by bucket."""
    wanted: dict[tuple[int, Bucket], Clip] = {}
    for stage in stages:
        buckets = [tuple(b) for b in stage.buckets]
        for clip in clips:
            b = assign_bucket(clip, buckets)
            if b is not None:
                wanted[(clip.index, buckets[b])] = clip
    by_bucket: dict[Bucket, list[tuple[int, Clip]]] = {}
    for (clip_id, bucket), clip in wanted.items():
        by_bucket.setdefault(bucket, []).append((clip_id, clip))
    return by_bucket


def _encoded(pipe, by_bucket: dict, decoded, bad: BadClips, encode_batch: int, device, dtype):
    """(bucket, clip id, clip, latents, text) of every readable clip, encoded a bucket's batch at a time (batch-1
    encodes leave a GPU idle); ``decoded`` yields the pixels in ``by_bucket``'s order."""
    for bucket, members in by_bucket.items():
        for start in range(0, len(members), encode_batch):
            chunk = members[start:start + encode_batch]
            loaded = []
            for (clip_id, clip), pixels in zip(chunk, itertools.islice(decoded, len(chunk)), strict=True):
                if isinstance(pixels, UserError):
                    bad.add(clip_id, str(pixels))
                else:
                    loaded.append((clip_id, clip, pixels))
            if not loaded:
                continue
            with torch.no_grad():
                pixels = torch.stack([p for _, _, p in loaded]).to(device=device, dtype=dtype)
                latents = pipe.encode_video(pixels)
                text = pipe.encode_prompt([clip.caption for _, clip, _ in loaded], device=device, dtype=dtype)
            for i, (clip_id, clip, _) in enumerate(loaded):
                yield bucket, clip_id, clip, latents[i], {k: v[i:i + 1] for k, v in text.items()}


def write_cache(pipe, clips: list[Clip], stages, out: Path, shard_size: int, meta: dict, device=None,
                dtype=None, encode_batch: int = 32, workers: int = 8, replace: bool = False) -> dict:
    """Encode every (clip, bucket) the stages use into safetensors shards: latents (the posterior mean) and
    text embeddings (whatever ``pipe.encode_prompt`` returns), plus the "" embedding for caption dropout."""
    from safetensors.torch import save_file

    from vgen.io.atomic import atomic_dir
    from vgen.io.outputs import mark

    bad = BadClips()
    by_bucket = _by_bucket(clips, stages)
    with atomic_dir(out, replace=replace) as tmp:
        mark(tmp, "train cache")  # its own output: the next `vgen train cache` may replace it
        shards = CacheShards(tmp, shard_size)
        decoded = decode_clips([(c, b) for b, members in by_bucket.items() for _, c in members], workers,
                               window=encode_batch * 8)
        with contextlib.closing(decoded), (console.err.status("caching latents") if not console.state.quiet
                                           else contextlib.nullcontext()):
            for bucket, clip_id, clip, latents, text in _encoded(pipe, by_bucket, decoded, bad, encode_batch,
                                                                 device, dtype):
                shards.add(latents, text, {"clip": clip_id, "bucket": list(bucket), "caption": clip.caption,
                                           "path": str(clip.path), "frames": clip.frames, "height": clip.height,
                                           "width": clip.width})
        shards.flush()
        with torch.no_grad():
            null = pipe.encode_prompt([""], device=device, dtype=dtype)
        save_file(text_to_tensors("null", null), str(tmp / NULL_TEXT), metadata={"format": "pt"})
        (tmp / CACHE_INDEX).write_text("".join(json.dumps(e) + "\n" for e in shards.index))
        meta = {**meta, "samples": len(shards.index), "skipped": len(bad)}
        (tmp / CACHE_META).write_text(json.dumps(meta, indent=2))
    return {"samples": len(shards.index), "shards": shards.count, "skipped": len(bad)}


def decode_pool(workers: int, clips: int):
    """Threads for a few clips; processes for many (PyAV's frame conversion holds the GIL: threads decode one clip
    at a time). Spawned, not forked: the parent may hold CUDA and OpenMP state."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if workers > 1 and clips >= 256:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=torch.set_num_threads, initargs=(1,))
    return ThreadPoolExecutor(workers, thread_name_prefix="vgen-cache")


def decode_clips(pairs: list[tuple[Clip, Bucket]], workers: int, half: bool = False, window: int = 256):
    """The pixels of each (clip, bucket) in order, or the UserError that reading it raised. ``window`` clips are in
    flight at any time (one more is asked for as each is taken), so the workers never wait for a batch boundary
    and RAM stays bounded however many clips there are."""
    fn = try_pixels_half if half else _try_pixels
    todo = iter(pairs)
    with decode_pool(workers, len(pairs)) as pool:
        pending = collections.deque(pool.submit(fn, c, b) for c, b in itertools.islice(todo, window))
        while pending:
            pixels = pending.popleft().result()
            following = next(todo, None)
            if following is not None:
                pending.append(pool.submit(fn, *following))
            yield pixels if isinstance(pixels, UserError) else torch.from_numpy(pixels)


def _try_pixels(clip: Clip, bucket: Bucket):
    """``load_pixels`` as a numpy array (a worker process sends it back through a pipe: a torch tensor would go
    through shared memory and a file-descriptor handshake, ~2x slower for small clips), or the UserError."""
    try:
        return load_pixels(clip, bucket).numpy()
    except UserError as exc:
        return exc


def try_pixels_half(clip: Clip, bucket: Bucket):
    """``_try_pixels`` in fp16 (half the bytes back from a worker process)."""
    x = _try_pixels(clip, bucket)
    return x if isinstance(x, UserError) else x.astype("float16")


class LatentCache:
    """Reads a cache folder: entries by (clip, bucket), tensors loaded lazily one shard file at a time."""

    def __init__(self, folder: Path, in_ram: bool = False):
        self.folder = Path(folder)
        # in_ram: keep every tensor read (a small cache read for many epochs): a batch of 256 cost ~50 ms of
        # safetensors calls under the GIL, which the training loop's own thread then waits for
        self._memo: dict[tuple[str, str], torch.Tensor] | None = {} if in_ram else None
        if not (self.folder / CACHE_INDEX).is_file():
            raise UserError(f"not a latent cache (no {CACHE_INDEX}): {self.folder}; write one with `vgen train cache`")
        self.meta = json.loads((self.folder / CACHE_META).read_text())
        self.entries = [json.loads(line) for line in (self.folder / CACHE_INDEX).read_text().splitlines() if line]
        self.by_clip_bucket = {(e["clip"], tuple(e["bucket"])): e for e in self.entries}
        self.clips = {}
        for e in self.entries:
            self.clips[e["clip"]] = Clip(e["clip"], Path(e["path"]), e["caption"], e["frames"], e["height"],
                                         e["width"])
        self._open: dict[str, object] = {}
        self._text_keys: dict[tuple[str, str], list[str]] = {}  # (shard, prefix) -> tensor names

    def _file(self, name: str):
        from safetensors import safe_open

        if name not in self._open:
            path = self.folder / name
            if not path.is_file():
                raise UserError(f"missing cache shard: {path}")
            f = self._open[name] = safe_open(str(path), framework="pt", device="cpu")
            # group the text tensors by sample once, not on every lookup (a batch looks up hundreds)
            for key in f.keys():
                sample, _, rest = key.partition(".")
                if rest.startswith("text."):
                    self._text_keys.setdefault((name, f"{sample}.text."), []).append(key)
        return self._open[name]

    def _get(self, shard: str, key: str) -> torch.Tensor:
        if self._memo is None:
            return self._file(shard).get_tensor(key)
        t = self._memo.get((shard, key))
        if t is None:
            t = self._memo[(shard, key)] = self._file(shard).get_tensor(key)
        return t

    def latents(self, entry: dict) -> torch.Tensor:
        return self._get(entry["shard"], f"{entry['key']}.latents")

    def text(self, entry: dict | None) -> dict[str, torch.Tensor]:
        """The text embeddings of an entry, or of the empty caption for ``None``."""
        name = NULL_TEXT if entry is None else entry["shard"]
        self._file(name)  # opened: its text keys are grouped
        prefix = "null.text." if entry is None else f"{entry['key']}.text."
        return {k[len(prefix):]: self._get(name, k) for k in self._text_keys.get((name, prefix), [])}
