"""Scale-out on torch.distributed: process group from torchrun's environment, DDP or FSDP2 wrapping, collectives
that are no-ops in a single process, and generic activation checkpointing of repeated blocks."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vgen.errors import UserError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    mode: str = "single"  # single | ddp | fsdp
    sp: int = 1  # ranks per sequence-parallel group: consecutive ranks [k*sp, (k+1)*sp) share their samples
    sp_group: dist.ProcessGroup | None = None  # this rank's sequence-parallel group (None: sp = 1)

    @property
    def dp_rank(self) -> int:
        """This rank's data-parallel index: which share of a global batch it (and its sequence group) trains on."""
        return self.rank // self.sp

    @property
    def dp_world(self) -> int:
        """Number of data-parallel groups (global batches split into this many shares)."""
        return self.world // self.sp

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def sum(self, value: float | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(value, dtype=torch.float64).clone()
        if self.active:
            t = t.to(_collective_device())
            dist.all_reduce(t)
        return t.cpu()

    def all_ints(self, values: list[int]) -> list[int]:
        """Union of small integer lists over ranks (bad clip ids)."""
        if not self.active:
            return sorted(set(values))
        gathered: list = [None] * self.world
        dist.all_gather_object(gathered, sorted(set(values)))
        return sorted({v for part in gathered for v in part})


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def init(mode: str, sequence_parallel: int = 1) -> Dist:
    """Join the process group torchrun describes (WORLD_SIZE > 1), else a single process; with
    ``sequence_parallel`` = S > 1, split it into world / S sequence-parallel groups of S consecutive ranks."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world % sequence_parallel:
        raise UserError(f"sequence_parallel = {sequence_parallel} must divide the number of processes ({world})")
    if world <= 1:
        return Dist()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend)
    d = Dist(dist.get_rank(), dist.get_world_size(), local_rank, "fsdp" if mode == "fsdp" else "ddp")
    if sequence_parallel > 1:
        d.sp = sequence_parallel
        for k in range(world // sequence_parallel):  # every rank creates every group, in the same order
            group = dist.new_group(list(range(k * sequence_parallel, (k + 1) * sequence_parallel)))
            if k == d.dp_rank:
                d.sp_group = group
    return d


def shutdown(d: Dist) -> None:
    if d.active and dist.is_initialized():
        dist.destroy_process_group()


def repeated_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The elements (with parameters) of the outermost ModuleLists of ``model``: a transformer's (or VAE's)
    repeated blocks, not the small lists inside them."""
    lists: list[str] = []
    for name, module in sorted(model.named_modules(), key=lambda nm: nm[0].count(".")):
        if isinstance(module, torch.nn.ModuleList) and not any(name.startswith(k + ".") for k in lists):
            lists.append(name)
    blocks = []
    for name in lists:
        blocks += [m for m in model.get_submodule(name) if any(True for _ in m.parameters())]
    return blocks


def checkpoint_activations(model: torch.nn.Module) -> int:
    """Recompute each repeated block in backward instead of keeping its activations (the parameter names stay as
    they are, so checkpoints and ``pipe.save`` are unchanged)."""
    from torch.utils.checkpoint import checkpoint

    blocks = repeated_blocks(model)
    for block in blocks:
        forward = block.forward

        @functools.wraps(forward)
        def wrapped(*args, _forward=forward, **kwargs):
            if not torch.is_grad_enabled():
                return _forward(*args, **kwargs)
            return checkpoint(_forward, *args, use_reentrant=False, **kwargs)

        block.forward = wrapped
    return len(blocks)


def wrap(module: torch.nn.Module, d: Dist, device: torch.device, mixed_bf16: bool) -> torch.nn.Module:
    """DDP: a replica per process, gradients all-reduced. FSDP2: each repeated block and the root sharded with
    ``fully_shard`` (parameters become DTensors; the module keeps its class and names)."""
    if d.mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        return DDP(module, device_ids=ids, find_unused_parameters=True)  # frozen or unused parts (e.g. guidance)
    if d.mode == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        kwargs = {}
        if mixed_bf16 and device.type == "cuda":
            kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        for block in repeated_blocks(module):
            if any(p.requires_grad for p in block.parameters()):
                fully_shard(block, **kwargs)
        fully_shard(module, **kwargs)
    return module
