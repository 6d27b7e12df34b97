"""Write a shapes-world data set: MP4 clips (+ AAC sound) and a ``manifest.jsonl`` that ``vgen train`` reads as is.

Clip ``i`` is a pure function of ``(seed, i)``, so workers render in any order, the manifest can be appended in any
order, and a rerun with the same settings skips every clip already recorded (resumable). The settings of the run are
kept in ``shapes.json`` next to the manifest; a rerun with other settings into the same folder is refused.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vgen.errors import UserError
from vgen.io.atomic import write_text
from vgen.io.manifest import ClipRecord, ManifestAppender, iter_manifest, write_manifest

MANIFEST = "manifest.jsonl"
SETTINGS = "shapes.json"


@dataclass(frozen=True)
class ShapesSettings:
    size: int = 64  # canvas side (px), even
    frames: int = 17  # 4k+1
    fps: float = 8.0
    seed: int = 0
    audio: bool = False  # mux the 16 kHz sound track as AAC
    two_object_fraction: float = 0.5  # share of clips with two objects
    crf: int = 18  # H.264 quality (lower is better)
    # "full": the training caption names size and background; "mixed": one of the four forms the grammar allows,
    # drawn per clip, so a model trained on it follows prompts that leave size or background out
    caption_form: str = "full"
    shape_weights: str | None = None  # e.g. "triangle=2": triangles twice as common as each other shape
    # "mp4": H.264 (+ AAC); "npz": the rendered frames and sound as arrays (no codec, no PyAV: for machines without
    # it; vgen.io.video.read_video does not read them, the dub model's training targets do)
    clip_format: str = "mp4"

    def validate(self) -> None:
        from vgen.errors import check_frames_4k1

        if self.size < 16 or self.size % 2:
            raise UserError(f"--size must be an even number of pixels >= 16, got {self.size}")
        check_frames_4k1(self.frames)
        if self.frames < 5:
            raise UserError(f"--frames must be at least 5 for moving objects, got {self.frames}")
        if not 0 < self.fps <= 1000:  # NaN fails too
            raise UserError(f"--fps must be in (0, 1000], got {self.fps}")
        if self.size > 4096 or self.frames > 1025:
            raise UserError(f"--size must be <= 4096 and --frames <= 1025, got {self.size} and {self.frames}")
        if not 0 <= self.seed < 2**64:
            raise UserError(f"--seed must be in [0, 2^64), got {self.seed}")
        if not 0 <= self.crf <= 51:
            raise UserError(f"crf must be in [0, 51], got {self.crf}")
        if self.clip_format not in ("mp4", "npz"):
            raise UserError(f"--format must be mp4 or npz, got {self.clip_format!r}")
        if self.caption_form not in ("full", "mixed"):
            raise UserError(f"--caption-form must be full or mixed, got {self.caption_form!r}")
        if not 0.0 <= self.two_object_fraction <= 1.0:
            raise UserError(f"--two-object-fraction must be in [0, 1], got {self.two_object_fraction}")
        from vgen_plugins.shapes.world import shape_probabilities

        try:
            shape_probabilities(self.shape_weights)
        except ValueError as exc:
            raise UserError(f"--shape-weights: {exc}") from None


def clip_name(index: int, clip_format: str = "mp4") -> str:
    return f"clips/{index:07d}.{clip_format}"


def make_clip(index: int, settings: ShapesSettings, out: str) -> dict:
    """Sample, render and write clip ``index``; return its manifest record (as a dict, cheap to pickle)."""
    from vgen_plugins.shapes.world import caption, caption_variants, render, render_audio, sample_scene

    from vgen.io.video import write_video

    scene = sample_scene((settings.seed, index), canvas=settings.size, frames=settings.frames, fps=settings.fps,
                         two_object_fraction=settings.two_object_fraction, shape_weights=settings.shape_weights)
    frames = render(scene)
    audio = render_audio(scene, seed=index) if settings.audio else None
    rel = clip_name(index, settings.clip_format)
    if settings.clip_format == "npz":
        from vgen.io.atomic import atomic_path

        with atomic_path(Path(out) / rel, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, frames=frames, fps=np.float32(settings.fps),
                         **({"audio": audio, "sample_rate": np.int32(16000)} if audio is not None else {}))
    else:
        write_video(Path(out) / rel, frames, settings.fps, audio=audio, crf=settings.crf)
    labels = {"dataset": "shapes", "index": index, "seed": settings.seed, **scene.to_labels()}
    variants = caption_variants(scene)
    text = caption(scene)
    if settings.caption_form == "mixed":  # its own stream: the scene of clip i stays the same either way
        forms = sorted(variants)
        text = variants[forms[np.random.default_rng((settings.seed, index, 1)).integers(len(forms))]]
    record = ClipRecord(path=rel, fps=settings.fps, width=settings.size, height=settings.size,
                        frames=settings.frames, end=settings.frames / settings.fps, caption=text,
                        captions=variants, labels=labels, audio=settings.audio)
    return record.model_dump()


def _worker(args) -> dict:
    return make_clip(*args)


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def done_indices(out: Path) -> set[int]:
    """Indices already in the manifest whose clip file exists (records of vanished clips are dropped)."""
    path = out / MANIFEST
    if not path.exists():
        return set()
    records = list(iter_manifest(path))
    keep = [r for r in records if "index" in r.labels and r.resolve(path).is_file()]
    if len(keep) != len(records):
        write_manifest(path, keep)
    return {int(r.labels["index"]) for r in keep}


def check_settings(out: Path, settings: ShapesSettings) -> None:
    """Record the settings of ``out`` on first use; refuse to mix clips made with other settings."""
    path = out / SETTINGS
    wanted = asdict(settings)
    if path.exists():
        try:
            have = json.loads(path.read_text())
        except ValueError:
            have = None
        if not isinstance(have, dict):
            raise UserError(f"{path}: not a shapes data set's settings (corrupt); use another --out")
        defaults = asdict(ShapesSettings())  # a key a data set predates is its default
        diff = {k: (have.get(k, defaults[k]), v) for k, v in wanted.items() if have.get(k, defaults[k]) != v}
        if diff:
            what = ", ".join(f"{k} {a!r} (now {b!r})" for k, (a, b) in diff.items())
            raise UserError(f"{out} holds a shapes data set made with other settings: {what}; use another --out")
    elif (out / MANIFEST).exists():
        raise UserError(f"{out} has a manifest that is not a shapes data set; use another --out")
    else:
        write_text(path, json.dumps(wanted, indent=2) + "\n")


def generate(out: str | Path, num: int, settings: ShapesSettings, workers: int | None = None,
             progress=None) -> dict:
    """Write clips ``0 .. num-1`` into ``out`` (skipping those already there). Returns counts and timing.

    ``progress(done, total)`` is called after each clip.
    """
    settings.validate()
    if num < 0:
        raise UserError(f"--num must be >= 0, got {num}")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be >= 0 (0: one per CPU core), got {workers}")
    out = Path(out)
    _claim(out)
    out.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        check_settings(out, settings)
        return _generate(out, num, settings, workers, progress)


def _claim(out: Path) -> None:
    """The one rule for outputs (vgen.io.outputs): a new or empty folder, or a shapes data set to add to."""
    from vgen.io.outputs import check_writable

    check_writable(out, "--out")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    if out.is_dir() and not (out / SETTINGS).exists() and any(p.name != ".shapes.lock" for p in out.iterdir()):
        raise UserError(f"--out {out} is not empty and holds no shapes data set: choose a new folder")


@contextmanager
def _exclusive(out: Path):
    """One writer per folder: a second run into the same folder would append every clip twice."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(out / ".shapes.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UserError(f"another `vgen datasets shapes` is writing into {out}") from None
        yield


def _generate(out: Path, num: int, settings: ShapesSettings, workers: int | None, progress) -> dict:
    ManifestAppender(out / MANIFEST).close()  # drops a line cut short by a crash
    have = done_indices(out)
    todo = [i for i in range(num) if i not in have]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    start = time.perf_counter()
    jobs = [(i, settings, str(out)) for i in todo]
    with ManifestAppender(out / MANIFEST) as manifest:
        if workers == 1:
            results = map(_worker, jobs)
            pool = None
        else:
            # fork: workers start at once and need no importable __main__ (they only use numpy and PyAV)
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            pool = mp.get_context(method).Pool(workers, initializer=_init_worker)
            results = pool.imap_unordered(_worker, jobs, chunksize=max(1, min(32, len(jobs) // (workers * 4))))
        try:
            for n, rec in enumerate(results, 1):
                manifest.append(ClipRecord.model_validate(rec))
                if progress:
                    progress(n, len(todo))
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    seconds = time.perf_counter() - start
    return {"written": len(todo), "skipped": num - len(todo), "total": num, "seconds": seconds,
            "clips_per_second": len(todo) / seconds if todo and seconds > 0 else 0.0, "workers": workers,
            "manifest": str(out / MANIFEST)}
