"""Ulysses sequence parallelism for a DiT over [video tokens; text tokens], without touching its code.

The model's plugin says where its sequence lives (``SequenceSplit``): the module whose output is the video token
sequence (B, Li, width), the module whose output for those tokens is the model's prediction, and the blocks that take
a RoPE table of Li + Lt rows (with the position of that table among their arguments). ``with ulysses(group,
split):`` then makes every forward of the model in the block run sequence-parallel over the ranks of ``group``;
outside the block it is the plain model again. Each rank

1. keeps a contiguous slice of the video tokens after the embedding (padded with zeros to a multiple of the group
   size; the padding keys are masked out of attention) and all the text tokens (replicated);
2. rotates its video tokens with their own rows of the RoPE table (text keeps identity rotations);
3. in each joint attention: an all-to-all turns its video q/k/v from (all heads, its tokens) into (its heads, all
   tokens), it takes its heads of the replicated text q/k/v, attends over [all video; text] with its heads, then
   an all-to-all sends the video outputs back to (all heads, its tokens) and an all-gather gives every rank the
   text outputs of all heads;
4. after the output module, the video tokens of all ranks are gathered, so every rank returns the full output.

Everything but attention is per token, so the output equals the single-process one up to float rounding. The heads
must divide by the group size. Attention outside the blocks (e.g. a text-only refiner) runs replicated.

How it plugs in: forward hooks on the embedding (shard) and the output module (gather), forward pre-hooks on the
blocks (RoPE rows of this shard) and ``vgen.nn.attention.attention_override`` for the joint attention calls.

Autograd: every collective has its backward (run it inside the block when blocks are checkpointed: their recompute
needs the hooks), with "sum over ranks" semantics: summing the parameter gradients over
the group (all-reduce SUM) gives the gradient of the sum of the ranks' losses.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F

from vgen.distributed.groups import group_rank_size
from vgen.errors import UserError
from vgen.nn.attention import attention_override, local_attention

# ----------------------------------------------------------------------------------------------------------------
# Collectives with autograd


def _all_to_all(x: torch.Tensor, group, scatter_dim: int, gather_dim: int) -> torch.Tensor:
    """Split ``x`` into world pieces along ``scatter_dim``, send piece j to rank j, concatenate what arrives (in
    rank order) along ``gather_dim``."""
    world = dist.get_world_size(group)
    send = x.unflatten(scatter_dim, (world, -1)).movedim(scatter_dim, 0).contiguous()
    recv = torch.empty_like(send)
    dist.all_to_all_single(recv, send, group=group)
    return recv.movedim(0, gather_dim).flatten(gather_dim, gather_dim + 1)


class _AllToAll(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, group, scatter_dim, gather_dim):
        ctx.group, ctx.dims = group, (scatter_dim, gather_dim)
        return _all_to_all(x, group, scatter_dim, gather_dim)

    @staticmethod
    def backward(ctx, grad):
        scatter_dim, gather_dim = ctx.dims
        return _all_to_all(grad, ctx.group, gather_dim, scatter_dim), None, None, None


class _AllGather(torch.autograd.Function):
    """Concatenate every rank's ``x`` along ``dim``; backward: the summed gradient's slice of this rank."""

    @staticmethod
    def forward(ctx, x, group, dim):
        ctx.group, ctx.dim = group, dim
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, x.contiguous(), group=group)
        return torch.cat(parts, dim=dim)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad, group=ctx.group)
        rank, world = group_rank_size(ctx.group)
        return grad.chunk(world, dim=ctx.dim)[rank], None, None


def all_to_all(x: torch.Tensor, group, scatter_dim: int, gather_dim: int) -> torch.Tensor:
    return _AllToAll.apply(x, group, scatter_dim, gather_dim)


def all_gather(x: torch.Tensor, group, dim: int) -> torch.Tensor:
    return _AllGather.apply(x, group, dim)


# ----------------------------------------------------------------------------------------------------------------
# The sequence-parallel state of one model


@dataclass
class SequenceSplit:
    """Where a model's token sequence is split, as its plugin knows it."""

    embed: torch.nn.Module  # output (B, Li, width): the video tokens, sharded over the ranks
    out: torch.nn.Module  # output (B, Li_local, ...) for this rank's tokens: gathered over the ranks
    blocks: Sequence[tuple[torch.nn.Module, int]]  # (block, index of its RoPE table among its positional arguments)


class UlyssesAttention:
    """Per-forward state (set by the shard hook) and the joint attention over the group."""

    def __init__(self, group):
        self.group = group
        self.rank, self.world = group_rank_size(group)
        self.active = False  # True between the first block and the gather: only joint attention is parallel
        self.n_video = self.n_pad = self.n_local = 0
        self._rope_key = self._rope_local = None

    # -- hooks ---------------------------------------------------------------------------------------------------

    def shard(self, module, args, x: torch.Tensor) -> torch.Tensor:
        """The embedding's output (B, Li, width) -> this rank's (B, ceil(Li / world), width) slice."""
        self.active = False
        self.n_video = x.shape[1]
        self.n_pad = -self.n_video % self.world
        self.n_local = (self.n_video + self.n_pad) // self.world
        self._rope_key = None
        if self.n_pad:
            x = F.pad(x, (0, 0, 0, self.n_pad))
        return x.narrow(1, self.rank * self.n_local, self.n_local)

    def block_args(self, index: int, module, args):
        """A block's RoPE table (Li + Lt rows, argument ``index``) -> this shard's rows + the text rows."""
        self.active = True
        rope = args[index]
        if self._rope_key is not rope:
            n_text = rope.shape[0] - self.n_video
            video, text = rope[: self.n_video], rope[self.n_video:]
            if self.n_pad:  # identity rotations for the padding tokens
                pad = video.new_zeros(self.n_pad, *video.shape[1:])
                pad[..., 0] = 1
                video = torch.cat([video, pad])
            video = video.narrow(0, self.rank * self.n_local, self.n_local)
            self._rope_key, self._rope_local = rope, torch.cat([video, text]) if n_text else video
        return (*args[:index], self._rope_local, *args[index + 1:])

    def gather(self, module, args, out: torch.Tensor) -> torch.Tensor:
        """The output module's output for this rank's tokens -> for all video tokens."""
        self.active = False
        return all_gather(out, self.group, dim=1)[:, : self.n_video]

    # -- attention -----------------------------------------------------------------------------------------------

    def __call__(self, q, k, v, mask, backend):
        if not self.active:
            return local_attention(q, k, v, mask, backend)
        batch, heads, length, _ = q.shape
        if heads % self.world:
            raise UserError(f"sequence parallelism over {self.world} ranks needs a head count divisible by it, "
                            f"got {heads} heads")
        n_local, n_text = self.n_local, length - self.n_local
        h = heads // self.world
        mine = slice(self.rank * h, (self.rank + 1) * h)

        def head_sharded(t):  # (B, H, n_local + Lt, D) -> (B, H / world, Li_padded + Lt, D)
            video = all_to_all(t[:, :, :n_local], self.group, scatter_dim=1, gather_dim=2)
            return torch.cat([video, t[:, mine, n_local:]], dim=2) if n_text else video

        keep = None
        if mask is not None or self.n_pad:
            if mask is not None and mask.dim() != 2:
                raise UserError("sequence-parallel attention supports key-padding masks (B, L) only")
            text_keep = mask[:, n_local:] if mask is not None else q.new_ones(batch, n_text, dtype=torch.bool)
            keep = torch.cat([text_keep.new_ones(batch, self.n_video), text_keep.new_zeros(batch, self.n_pad),
                              text_keep.expand(batch, n_text)], dim=1)
        out = local_attention(head_sharded(q), head_sharded(k), head_sharded(v), keep, backend)
        video = all_to_all(out[:, :, : self.world * n_local], self.group, scatter_dim=2, gather_dim=1)
        if not n_text:
            return video
        return torch.cat([video, all_gather(out[:, :, self.world * n_local:], self.group, dim=1)], dim=2)


@contextmanager
def ulysses(group, split: SequenceSplit) -> Iterator[UlyssesAttention | None]:
    """Run the model that ``split`` points into sequence-parallel over ``group`` (None: the world) inside the block.

    Every rank of the group calls the model with the same inputs and gets the same (full) output."""
    if group is None and dist.is_initialized():
        group = dist.group.WORLD
    if group is None or dist.get_world_size(group) == 1:
        yield None
        return
    state = UlyssesAttention(group)
    handles = [split.embed.register_forward_hook(state.shard), split.out.register_forward_hook(state.gather)]
    for block, index in split.blocks:
        handles.append(block.register_forward_pre_hook(functools.partial(state.block_args, index)))
    try:
        with attention_override(state):
            yield state
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def sequence_parallel(model: torch.nn.Module, group, split: SequenceSplit, checkpointing: bool = False
                      ) -> Iterator[UlyssesAttention | None]:
    """``ulysses`` for a DiT with a ``gradient_checkpointing`` flag: ``checkpointing`` turns on the DiT's own
    activation checkpointing inside the block (restored after). The DiT recomputes its blocks through their
    ``__call__``, so the hooks (RoPE rows, parallel attention) run again in the recompute; generic wrapping of the
    blocks would bypass them."""
    was = model.gradient_checkpointing
    model.gradient_checkpointing = was or checkpointing
    try:
        with ulysses(group, split) as state:
            yield state
    finally:
        model.gradient_checkpointing = was
