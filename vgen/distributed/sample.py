"""``torchrun --nproc-per-node N -m vgen sample ... --parallel ulysses|cfg|cfg-ulysses``: each batch of videos over N
processes (one GPU each). Every rank runs the sample stage's own job loop (vgen.sample.run: the same batches, the
same ``generate`` calls) on the same pipeline, which ``parallel_pipeline`` splits over the ranks:

- ``ulysses``: the DiT is sequence-parallel over all ranks (the pipeline's ``sequence_parallel``);
- ``cfg``: (2 ranks) the cond and uncond halves of each batched true-CFG call run on different ranks;
- ``cfg-ulysses``: both -- 2 CFG branches, each sequence-parallel over N / 2 ranks;
- always: the VAE's decode tiles are spread over all ranks.

Rank 0 writes the videos and sidecars; the other ranks only compute.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch.distributed as dist

from vgen import console
from vgen.distributed.batch import cfg_parallel
from vgen.distributed.groups import ParallelGroups, init_from_env, make_groups
from vgen.distributed.vae import tiles_over_ranks
from vgen.errors import UserError


@contextlib.contextmanager
def parallel_pipeline(pipe, groups: ParallelGroups) -> Iterator[None]:
    """Inside the block, ``pipe``'s DiT, CFG batches and VAE decode run over ``groups``."""
    with contextlib.ExitStack() as stack:
        if groups.sp_degree > 1:
            stack.enter_context(pipe.sequence_parallel(groups.sp))
        if groups.cfg_degree > 1:
            stack.enter_context(cfg_parallel(pipe, groups.cfg))
        if groups.world > 1:
            stack.enter_context(tiles_over_ranks(pipe.vae, dist.group.WORLD))
        yield


def check(s, groups: ParallelGroups) -> None:
    """What every rank refuses alike, before any collective (so no rank waits on one that gave up)."""
    if s.offload:
        raise UserError("--parallel does not combine with --offload (each rank keeps its model on its GPU)")
    if groups.cfg_degree > 1 and not s.cfg_batch:
        raise UserError("--parallel cfg needs batched CFG (drop --no-cfg-batch)")


@contextlib.contextmanager
def join(s, mode: str) -> Iterator[tuple[object, ParallelGroups | None]]:
    """Join torchrun's process group for a sampling run split as ``mode``: yields the settings ``s`` with this rank's
    device, and the groups (None in a single process: nothing to split, the plain stage runs)."""
    rank, world, device = init_from_env()
    if world == 1:
        console.warn(f"--parallel {mode}: a single process, nothing to split (launch with torchrun "
                     "--nproc-per-node N -m vgen sample ...)")
        yield s, None
        return
    try:
        groups = make_groups(mode, device)
        check(s, groups)
        yield s.model_copy(update={"device": str(device)}), groups
    finally:
        dist.destroy_process_group()
