"""``torchrun --nproc-per-node N -m vgen sample ... --parallel ulysses|cfg|cfg-ulysses``: one video at a time over
N processes (one GPU each). Every rank loads the same pipeline and runs the same generation loop; inside it

- ``ulysses``: the DiT is sequence-parallel over all ranks (vgen.distributed.ulysses);
- ``cfg``: (2 ranks) the cond and uncond halves of each batched true-CFG call run on different ranks;
- ``cfg-ulysses``: both -- 2 CFG branches, each sequence-parallel over N / 2 ranks;
- always: the VAE's decode tiles are spread over all ranks.

Rank 0 writes the videos and sidecars (vgen.sample.run, unchanged); the other ranks only compute.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch.distributed as dist

from vgen import console, registry
from vgen.distributed.batch import cfg_parallel
from vgen.distributed.groups import ParallelGroups, init_from_env, make_groups
from vgen.distributed.ulysses import ulysses
from vgen.distributed.vae import tiles_over_ranks
from vgen.errors import UserError


@contextlib.contextmanager
def parallel_pipeline(pipe, groups: ParallelGroups) -> Iterator[None]:
    """Inside the block, ``pipe``'s DiT, CFG batches and VAE decode run over ``groups``."""
    with contextlib.ExitStack() as stack:
        if groups.sp_degree > 1:
            stack.enter_context(ulysses(pipe.transformer, groups.sp))
        if groups.cfg_degree > 1:
            stack.enter_context(cfg_parallel(pipe, groups.cfg))
        if groups.world > 1:
            stack.enter_context(tiles_over_ranks(pipe.vae, dist.group.WORLD))
        yield


def _check(s, groups: ParallelGroups) -> None:
    """What every rank refuses alike, before any collective (so no rank waits on one that gave up)."""
    if s.offload:
        raise UserError("--parallel does not combine with --offload (each rank keeps its model on its GPU)")
    if groups.cfg_degree > 1 and not s.cfg_batch:
        raise UserError("--parallel cfg needs batched CFG (drop --no-cfg-batch)")
    for kind, name in (("sampler", s.sampler), ("schedule", s.schedule), ("pipeline", s.pipeline)):
        if name is not None:
            registry.get(kind, name)


def sample_parallel(s, specs, mode: str = "ulysses", as_json: bool = False, replayed: dict | None = None):
    """The ``vgen sample`` stage over torchrun's processes (a single process: the plain stage)."""
    from vgen.sample import run

    rank, world, device = init_from_env()
    if world == 1:
        console.warn(f"--parallel {mode}: a single process, nothing to split (launch with torchrun "
                     "--nproc-per-node N -m vgen sample ...)")
        return run.sample_videos(s, specs, as_json=as_json, replayed=replayed)
    groups = make_groups(mode, device)
    s = s.model_copy(update={"device": str(device)})
    _check(s, groups)
    try:
        if rank == 0:
            return _sample_main(run, s, specs, groups, as_json, replayed)
        _sample_worker(run, s, specs, groups)
        return []
    finally:
        dist.destroy_process_group()


def _sample_main(run, s, specs, groups, as_json, replayed):
    """Rank 0: the stage as it is, with the loaded pipeline made parallel."""
    load = run.load_pipeline
    with contextlib.ExitStack() as stack:
        def load_parallel(settings):
            pipe, device, dtype = load(settings)
            stack.enter_context(parallel_pipeline(pipe, groups))
            return pipe, device, dtype

        run.load_pipeline = load_parallel
        try:
            return run.sample_videos(s, specs, as_json=as_json, replayed=replayed)
        finally:
            run.load_pipeline = load


def _sample_worker(run, s, specs, groups) -> None:
    """Ranks > 0: the same ``generate`` calls as vgen.sample.run makes on rank 0, nothing written."""
    from vgen.sample.loop import generate

    pipe, device, dtype = run.load_pipeline(s)
    with run.attention_backend(s.attention), parallel_pipeline(pipe, groups):
        for spec in specs:
            negative = s.negative if spec.negative is None else spec.negative
            for seed in spec.seeds or s.seed:
                generate(pipe, [spec.prompt], negative=negative, seed=seed, progress=False, device=device,
                         dtype=dtype, **run.generate_options(s))
