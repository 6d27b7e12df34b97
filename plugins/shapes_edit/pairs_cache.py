"""The editor's training data: shapes-world edit pairs rendered in memory and encoded into a latent cache that
``vgen train run --cache`` reads as is. Each sample's latents are the target clip's; its text is the instruction's
tokens plus ``source``, the source clip's latents (what pipeline shapes-edit's DiT takes besides the noisy latents).

No video files and no PyAV: pairs are rendered by numpy workers (pair ``i`` depends only on ``(seed, i)``) and encoded
by the pipeline's VAE on its device, so the cache is made where training runs. The cache's empty caption carries no
source, so the recipe sets caption_dropout = 0 and the cache drops instructions itself instead: a share ``drop`` of
its samples (drawn by ``(seed, i)``) have the empty instruction with the source kept, InstructPix2Pix's way, so that
the editor may guide on the instruction (CFG with "" and the same source as the unconditional text).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import torch

SIZE = (17, 64, 64)


def render_pair(args) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(source frames, target frames, instruction or "" when dropped, kind) of pair ``index`` of ``seed``."""
    from vgen_plugins.shapes.edit_pairs import make_pair
    from vgen_plugins.shapes.world import render

    seed, index, drop = args
    pair = make_pair(seed, index, canvas=SIZE[1], frames=SIZE[0])
    dropped = np.random.default_rng([seed, index, 0xD209]).random() < drop
    return render(pair.source), render(pair.target), "" if dropped else pair.instruction, pair.kind


def _pairs(seed: int, num: int, workers: int, drop: float):
    jobs = [(seed, i, drop) for i in range(num)]
    if workers <= 1:
        yield from map(render_pair, jobs)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers, initializer=os.environ.setdefault, initargs=("OMP_NUM_THREADS", "1")) \
            as pool:
        yield from pool.imap(render_pair, jobs, chunksize=64)


def _pixels(frames: list[np.ndarray], device, dtype) -> torch.Tensor:
    x = torch.from_numpy(np.stack(frames)).to(device)  # (B, T, H, W, 3) uint8
    return (x.permute(0, 4, 1, 2, 3).to(dtype) / 127.5 - 1.0)


@torch.no_grad()
def write_edit_cache(pipe, out: str | Path, num: int, seed: int = 0, device=None, dtype=torch.float32,
                     batch: int = 64, workers: int = 0, shard_size: int = 4096, drop: float = 0.1) -> dict:
    """Encode pairs ``0 .. num-1`` of ``seed`` into a latent cache folder ``out`` (replaced atomically)."""
    from safetensors.torch import save_file

    from vgen.io.atomic import atomic_dir
    from vgen.train.data import CACHE_INDEX, CACHE_META, NULL_TEXT, CacheShards, text_to_tensors

    device = torch.device(device or "cpu")
    start = time.perf_counter()
    kinds: dict[str, int] = {}
    with atomic_dir(Path(out)) as tmp:
        shards = CacheShards(tmp, shard_size)
        chunk: list = []

        def flush():
            src = pipe.encode_video(_pixels([c[0] for c in chunk], device, dtype))
            tgt = pipe.encode_video(_pixels([c[1] for c in chunk], device, dtype))
            text = pipe.encode_prompt([c[2] for c in chunk], device=device, dtype=dtype)
            for i, (_, _, instruction, kind) in enumerate(chunk):
                index = len(shards.index)
                shards.add(tgt[i].float(), {**{k: v[i:i + 1] for k, v in text.items()}, "source": src[i:i + 1].float()},
                           {"clip": index, "bucket": list(SIZE), "caption": instruction, "path": f"pair-{index}",
                            "frames": SIZE[0], "height": SIZE[1], "width": SIZE[2], "kind": kind})
                kinds[kind if instruction else "dropped"] = kinds.get(kind if instruction else "dropped", 0) + 1
            chunk.clear()

        for item in _pairs(seed, num, workers or (os.cpu_count() or 1), drop):
            chunk.append(item)
            if len(chunk) == batch:
                flush()
        if chunk:
            flush()
        shards.flush()
        save_file(text_to_tensors("null", pipe.encode_prompt([""], device=device, dtype=dtype)),
                  str(tmp / NULL_TEXT), metadata={"format": "pt"})
        (tmp / CACHE_INDEX).write_text("".join(json.dumps(e) + "\n" for e in shards.index))
        meta = {"pipeline": pipe.name, "pairs_seed": seed, "samples": len(shards.index), "kinds": kinds}
        (tmp / CACHE_META).write_text(json.dumps(meta, indent=2))
    return {"samples": len(shards.index), "kinds": kinds, "seconds": round(time.perf_counter() - start, 2)}
