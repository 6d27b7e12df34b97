"""Clips with sound from a manifest (``vgen datasets shapes --audio`` writes one), decoded in worker processes."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import numpy as np

from vgen.errors import UserError
from vgen.io.audio import mono_at


def _read(args) -> dict | None:
    path, caption, sample_rate, with_frames = args
    if path.endswith(".npz"):  # `vgen datasets shapes --format npz`: the rendered arrays, no codec
        try:
            with np.load(path) as data:
                if "audio" not in data:
                    return None
                wave, rate, fps = data["audio"], int(data["sample_rate"]), float(data["fps"])
                frames = data["frames"] if with_frames else None
        except (OSError, ValueError, KeyError):
            return None
    else:
        from vgen.io.video import read_video

        try:
            clip = read_video(path, audio=True)
        except UserError:
            return None
        wave, rate, fps, frames = clip.audio, clip.sample_rate, clip.fps, clip.frames
    wave = mono_at(wave, rate, sample_rate)
    if wave is None:
        return None
    return {"audio": wave, "fps": fps, "caption": caption or "", "frames": frames if with_frames else None}


def load_clips(manifest: str | Path, sample_rate: int, frames: bool = True, limit: int | None = None) -> list[dict]:
    """Every readable clip of ``manifest`` that has sound: ``audio`` (float32 mono at ``sample_rate``), ``fps``,
    ``caption`` and (``frames=True``) uint8 ``frames``."""
    from vgen.io.manifest import iter_manifest

    path = Path(manifest)
    if path.is_dir():
        path = path / "manifest.jsonl"
    if not path.is_file():
        raise UserError(f"no manifest at {path} (write one with `vgen datasets shapes --audio`)")
    jobs = [(str(r.resolve(path)), r.caption, sample_rate, frames) for r in iter_manifest(path)][:limit]
    workers = max(1, min(len(os.sched_getaffinity(0)), 16, len(jobs) // 64 or 1))
    if workers == 1:
        clips = [_read(j) for j in jobs]
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            clips = pool.map(_read, jobs, chunksize=32)
    clips = [c for c in clips if c is not None]
    if not clips:
        raise UserError(f"{path}: no clip with sound (write them with `vgen datasets shapes --audio`)")
    return clips
