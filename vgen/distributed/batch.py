"""CFG-parallel: the ranks of a group split the batch of a denoiser call and gather the outputs.

Batched CFG calls the denoiser once on [x; x] with [cond; uncond] text (vgen.flow.guidance, ``cfg_batch``), so
splitting that batch over 2 ranks puts the conditional branch on one and the unconditional on the other; the
guidance combination then runs on every rank on the gathered velocities, exactly as in one process."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist

from vgen.distributed.groups import group_rank_size


def _take(value, batch: int, part: slice):
    """Batch slice of a tensor whose first dim is the batch (scalars and other tensors pass through)."""
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch:
        return value[part]
    if isinstance(value, dict):
        return {k: _take(v, batch, part) for k, v in value.items()}
    return value


def split_batch(fn, group):
    """``fn(latents, *args, **kwargs)`` with the batch split over ``group``: each rank runs its contiguous share,
    all ranks get the whole output. A batch the group does not divide runs whole on every rank."""
    rank, world = group_rank_size(group)

    @functools.wraps(fn)
    def wrapped(latents: torch.Tensor, *args, **kwargs):
        batch = latents.shape[0]
        if world == 1 or batch % world:
            return fn(latents, *args, **kwargs)
        n = batch // world
        part = slice(rank * n, (rank + 1) * n)
        out = fn(latents[part], *(_take(a, batch, part) for a in args),
                 **{k: _take(v, batch, part) for k, v in kwargs.items()})
        parts = [torch.empty_like(out) for _ in range(world)]
        dist.all_gather(parts, out.contiguous(), group=group)
        return torch.cat(parts)

    return wrapped


@contextmanager
def cfg_parallel(pipe, group) -> Iterator[None]:
    """Inside the block, ``pipe.denoise`` splits its batch (cond / uncond with batched CFG) over ``group``."""
    if group is None or dist.get_world_size(group) == 1:
        yield
        return
    had = "denoise" in vars(pipe)
    previous = vars(pipe).get("denoise")
    pipe.denoise = split_batch(pipe.denoise, group)
    try:
        yield
    finally:
        if had:
            pipe.denoise = previous
        else:
            del pipe.denoise
