"""Process groups: the one torchrun describes (env RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) and its split into
CFG x sequence-parallel groups."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vgen.errors import UserError


@dataclass
class ParallelGroups:
    """This rank's place: ``cfg`` groups the ranks that split a CFG batch, ``sp`` the ranks that split a sequence.

    With cfg degree c and sequence degree u (c * u = world), ranks [b*u, (b+1)*u) form sequence group b and ranks
    {i, i + u, ...} CFG group i: each sequence group runs one CFG branch, sequence-parallel over its u ranks.
    """

    rank: int
    world: int
    device: torch.device
    cfg: dist.ProcessGroup | None  # None: degree 1
    sp: dist.ProcessGroup | None
    cfg_degree: int = 1
    sp_degree: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_from_env(backend: str | None = None) -> tuple[int, int, torch.device]:
    """Join torchrun's process group (nccl on CUDA, else gloo) and pick this rank's device: (rank, world, device).

    A single process (no WORLD_SIZE or 1) joins nothing and gets (0, 1, cuda or cpu)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world <= 1 and not dist.is_initialized():
        return 0, 1, torch.device("cuda" if cuda else "cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"), device_id=device if cuda else None)
    return dist.get_rank(), dist.get_world_size(), device


def make_groups(mode: str, device: torch.device | None = None) -> ParallelGroups:
    """Groups for ``mode``: "ulysses" (all ranks split the sequence), "cfg" (all ranks split the CFG batch) or
    "cfg-ulysses" (2 CFG branches, each sequence-parallel over world / 2 ranks). Call on every rank."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    device = device or torch.device("cpu")
    if mode not in ("ulysses", "cfg", "cfg-ulysses"):
        raise UserError(f"unknown parallel mode {mode!r}; known: ulysses, cfg, cfg-ulysses")
    cfg_degree = {"ulysses": 1, "cfg": world, "cfg-ulysses": 2}[mode]
    if mode == "cfg" and world != 2:
        raise UserError(f"--parallel cfg runs the two CFG branches on 2 processes, got {world}; "
                        "use --parallel cfg-ulysses for more")
    if world % cfg_degree:
        raise UserError(f"--parallel {mode} needs an even number of processes, got {world}")
    sp_degree = world // cfg_degree
    if world == 1:
        return ParallelGroups(rank, world, device, None, None)
    cfg_group = sp_group = None
    # every rank must create every group, in the same order
    for b in range(cfg_degree):
        ranks = list(range(b * sp_degree, (b + 1) * sp_degree))
        group = dist.new_group(ranks) if sp_degree > 1 else None
        if rank in ranks:
            sp_group = group
    for i in range(sp_degree):
        ranks = list(range(i, world, sp_degree))
        group = dist.new_group(ranks) if cfg_degree > 1 else None
        if rank in ranks:
            cfg_group = group
    return ParallelGroups(rank, world, device, cfg_group, sp_group, cfg_degree, sp_degree)


def group_rank_size(group: dist.ProcessGroup | None) -> tuple[int, int]:
    """(rank in group, group size); (0, 1) for None."""
    if group is None:
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)
