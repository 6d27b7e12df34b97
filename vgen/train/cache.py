"""``vgen train cache``: latents + text embeddings of a manifest, so that training needs only the DiT in memory."""

from __future__ import annotations

from pathlib import Path

import torch

from vgen.device import pick_device
from vgen.train.data import read_clips, write_cache
from vgen.train.settings import TrainSettings


def build_cache(s: TrainSettings, out: Path, device: str = "auto", overwrite: bool = False) -> dict:
    from vgen.io.outputs import claim_dir
    from vgen.train.trainer import build_pipeline

    # before any model loads: never into the data, never over a folder another command (or the user) made
    state = claim_dir(out, "train cache", overwrite=overwrite, inputs=[s.data], create=False)
    dev = pick_device(device)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    pipe = build_pipeline(s, dev, dtype)
    clips = read_clips(s.data)
    meta = {"pipeline": s.pipeline, "config": s.config, "weights": str(s.weights) if s.weights else None,
            "latent_channels": pipe.latent_channels, "data": str(s.data)}
    return write_cache(pipe, clips, s.stages, Path(out), s.cache_shard_size, meta, device=dev, dtype=dtype,
                       workers=s.data_workers, replace=state != "new")
