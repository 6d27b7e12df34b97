"""This rank's batches: the clips of a run (train / held-out), each stage's stream of global micro-batches, clips
loaded (or replaced, when unreadable) in worker threads, and the next batch made while a step trains.

A global micro-batch is one bucket's batch (size set by the token budget) split evenly over the data-parallel
groups; every random draw is keyed by the batch's place in the stream, so a resumed run, or a run split over N
processes, sees the same samples. The objective adds what its loss needs (``fill``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

from vgen import console
from vgen.errors import UserError
from vgen.train.data import (
    BatchStream,
    LatentCache,
    assign_bucket,
    batch_size,
    decode_clips,
    generator,
    load_pixels,
    read_clips,
)


def load_data(s) -> tuple[LatentCache | None, dict, list]:
    """(latent cache or None, training clips by index, held-out clips): ``holdout`` clips drawn by the seed."""
    cache = LatentCache(s.cache, s.cache_in_ram) if s.cache else None
    if cache is not None:
        clips = [cache.clips[k] for k in sorted(cache.clips)]
    elif s.data is not None:
        clips = read_clips(s.data)
    else:
        raise UserError("no training data: set train.data (a manifest) or train.cache (`vgen train cache`)")
    order = torch.randperm(len(clips), generator=generator("holdout", s.seed)).tolist()
    held = set(order[: s.holdout]) if s.holdout < len(clips) else set()
    if s.holdout and not held:
        raise UserError(f"holdout = {s.holdout} leaves no clip to train on ({len(clips)} clips)")
    return cache, {c.index: c for i, c in enumerate(clips) if i not in held}, [c for i, c in enumerate(clips)
                                                                              if i in held]


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch tensor on the training device without a wait: a plain host-to-GPU copy synchronizes the stream,
    so the step would wait for the GPU to finish the previous one (no overlap of Python and kernels)."""
    if device.type != "cuda":
        return t
    return t.pin_memory().to(device, non_blocking=True)


class Batches:
    """Each stage's batches for this rank; ``positions`` (one per stage) is what a checkpoint keeps."""

    def __init__(self, s, clips: dict, cache: LatentCache | None, geometry, d, device: torch.device, bad,
                 fill: Callable):
        self.s, self.clips, self.cache, self.geometry, self.d, self.device, self.bad = (
            s, clips, cache, geometry, d, device, bad)
        self.fill = fill
        self.positions = [0] * len(s.stages)
        self._streams: dict[int, BatchStream] = {}
        self._pool = ThreadPoolExecutor(s.data_workers, thread_name_prefix="vgen-data")  # map keeps the order
        self._prefetch = ThreadPoolExecutor(1, thread_name_prefix="vgen-prefetch")  # the next batch, while one trains
        self._ahead: dict = {}
        self._decoded: dict | None = {} if s.keep_decoded else None

    def stream(self, i: int) -> BatchStream:
        if i not in self._streams:
            stage = self.s.stages[i]
            buckets = [tuple(b) for b in stage.buckets]
            groups: dict[int, list[int]] = {b: [] for b in range(len(buckets))}
            for clip in self.clips.values():
                b = assign_bucket(clip, buckets)
                if b is not None and (self.cache is None or (clip.index, buckets[b]) in self.cache.by_clip_bucket):
                    groups[b].append(clip.index)
            sizes = {b: batch_size(buckets[b], self.geometry, stage.tokens_per_batch, stage.max_batch, self.d.dp_world)
                     for b in groups}
            self._streams[i] = BatchStream(groups, sizes, self.s.seed, i)
            if self._decoded is not None and self.cache is None:
                self._predecode([(cid, buckets[b]) for b, ids in groups.items() for cid in ids])
        return self._streams[i]

    def _predecode(self, wanted: list) -> None:
        """keep_decoded: decode a stage's clips once, up front, in worker processes (decoding them batch by batch
        in threads is bound by the GIL: ~40 clips/s, a slow first epoch)."""
        todo = [(cid, b) for cid, b in wanted if (cid, tuple(b)) not in self._decoded and cid not in self.bad.ids]
        if not todo:
            return
        t0 = time.perf_counter()
        pixels = decode_clips([(self.clips[c], tuple(b)) for c, b in todo], self.s.data_workers, half=True)
        for (cid, b), x in zip(todo, pixels, strict=True):
            if isinstance(x, UserError):
                self.bad.add(cid, str(x))
            else:
                self._decoded[(cid, tuple(b))] = x
        if self.d.main and not console.state.quiet:
            console.info(f"decoded {len(todo)} clips in {time.perf_counter() - t0:.0f} s")

    def _load(self, clip_id: int, bucket):
        if self.cache is not None:
            entry = self.cache.by_clip_bucket[(clip_id, tuple(bucket))]
            return entry, self.cache.latents(entry)
        if self._decoded is None:
            return None, load_pixels(self.clips[clip_id], bucket)
        key = (clip_id, tuple(bucket))
        if key not in self._decoded:  # always serve the fp16 copy, so a resumed run sees the same values
            self._decoded[key] = load_pixels(self.clips[clip_id], bucket).half()
        return None, self._decoded[key].float()

    def _load_or_replace(self, clip_id: int, group: list[int], bucket):
        """A sample, or (when its clip is unreadable) the next readable clip of the same bucket."""
        for cid in _after(clip_id, group):
            if cid in self.bad.ids:
                continue
            try:
                return cid, self._load(cid, bucket)
            except UserError as exc:
                self.bad.add(cid, str(exc))
        raise UserError(f"every clip of bucket {bucket[0]}x{bucket[1]}x{bucket[2]} is unreadable")

    def next(self, stage_i: int) -> dict:
        """This rank's share of the next global micro-batch of a stage; the one after it is made in the background
        (batches depend only on their stage and position, so a prefetched batch is the one that would be made)."""
        pos = self.positions[stage_i]
        self.positions[stage_i] += 1
        ahead, self._ahead = self._ahead.pop((stage_i, pos), None), {}
        batch = ahead.result() if ahead is not None else self._make(stage_i, pos)
        self._ahead[(stage_i, pos + 1)] = self._prefetch.submit(self._make, stage_i, pos + 1)
        return batch

    def _make(self, stage_i: int, pos: int) -> dict:
        """The micro-batch at ``pos`` of a stage's stream (the ranks of a sequence-parallel group share one: they
        split each sample's tokens instead)."""
        stream = self.stream(stage_i)
        b, ids = stream.at(pos)
        bucket = tuple(self.s.stages[stage_i].buckets[b])
        per = len(ids) // self.d.dp_world
        js = range(self.d.dp_rank * per, (self.d.dp_rank + 1) * per)
        group = stream.groups[b]
        load = lambda j: self._load_or_replace(ids[j], group, bucket)  # noqa: E731
        # cached latents are memory-mapped reads: threads would only add lock traffic; clips decode in threads
        loaded = [load(j) for j in js] if self.cache is not None else list(self._pool.map(load, js))
        keys = [(stage_i, pos, j) for j in js]
        # one generator per global batch, each rank its rows (not one per sample: a Python loop over the batch on
        # the prefetch thread, which shares the GIL with the training loop)
        drop = torch.rand(len(ids), generator=generator("caption", self.s.seed, stage_i, pos))[js.start:js.stop]
        captions = [None if d else cid for (cid, _), d in zip(loaded, (drop < self.s.caption_dropout).tolist(),
                                                                strict=True)]
        batch = {"bucket": bucket, "global_batch": len(ids), "keys": keys, "captions": captions}
        x = to_device(torch.stack([data for _, (_, data) in loaded]), self.device)
        self.fill(batch, loaded, x, js)
        return batch


def _after(clip_id: int, group: list[int]):
    """``clip_id``, then the clips that follow it in its bucket's group, wrapping round. Lazy: the group is searched
    only when ``clip_id`` itself is unreadable. Searching it for every sample cost 340 ms a batch of 1024 in a
    group of 32k clips (2-core CPU), on the prefetch thread that shares the GIL with the training loop; H200 steps
    of 1024 clips were ~290 ms with that search (GPU busy 33%), 115 ms before it; with it gone, a 6+6-block model's
    steps took 165 ms (GPU busy 85%)."""
    yield clip_id
    start = group.index(clip_id)
    for k in range(1, len(group)):
        yield group[(start + k) % len(group)]
