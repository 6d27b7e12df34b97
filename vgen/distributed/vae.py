"""A VAE's tiled decode with the tiles spread over the ranks of a group.

Tiled decoding calls ``vae.decoder`` once per (temporal chunk x spatial) tile and blends the results. Rather than
re-implement the blending, ``distributed_decode`` runs the VAE's own ``decode`` twice around a stand-in decoder:

1. plan: the stand-in records each tile's input and returns zeros of the tile's output shape (no decoding);
2. the ranks decode the recorded tiles round-robin, and each decoded tile is broadcast from its owner to all;
3. replay: the stand-in returns the decoded tiles in call order, and the VAE blends them as it always does.

So the result equals the single-process tiled decode (bit for bit on the same device), whatever tiling the VAE
does. Works for any VAE whose decode goes through a ``decoder`` submodule whose output is (B, out_channels,
(t - 1) * temporal + 1, h * spatial, w * spatial) for input (B, C, t, h, w) -- HunyuanVideo's causal VAE.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn

from vgen.distributed.groups import group_rank_size


class _Planner(nn.Module):
    def __init__(self, out_channels: int, temporal: int, spatial: int):
        super().__init__()
        self.shape = (out_channels, temporal, spatial)
        self.inputs: list[torch.Tensor] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.inputs.append(z)
        channels, temporal, spatial = self.shape
        b, _, t, h, w = z.shape
        return z.new_zeros(b, channels, (t - 1) * temporal + 1, h * spatial, w * spatial)


class _Replayer(nn.Module):
    def __init__(self, outputs: list[torch.Tensor]):
        super().__init__()
        self.outputs = iter(outputs)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return next(self.outputs)


@contextmanager
def _decoder_swapped(vae: nn.Module, stand_in: nn.Module) -> Iterator[None]:
    real = vae.decoder
    vae.decoder = stand_in
    try:
        yield
    finally:
        vae.decoder = real


@torch.no_grad()
def distributed_decode(vae: nn.Module, z: torch.Tensor, group=None, decode=None) -> torch.Tensor:
    """``vae.decode(z)`` (``decode`` if given: the unpatched one) with its decoder tiles spread over ``group``;
    every rank returns the whole video."""
    decode = decode or type(vae).decode.__get__(vae)
    if group is None and dist.is_initialized():
        group = dist.group.WORLD
    rank, world = group_rank_size(group)
    if world == 1:
        return decode(z)
    cfg = vae.config
    planner = _Planner(cfg.out_channels, vae.temporal_compression_ratio, vae.spatial_compression_ratio)
    with _decoder_swapped(vae, planner):
        decode(z)
    outputs = []
    for i, tile in enumerate(planner.inputs):
        b, _, t, h, w = tile.shape
        channels, temporal, spatial = planner.shape
        shape = (b, channels, (t - 1) * temporal + 1, h * spatial, w * spatial)
        owner = i % world
        out = vae.decoder(tile).contiguous() if owner == rank else tile.new_empty(shape)
        outputs.append(out)
    # one broadcast per tile from its owner (tiles differ in size at the edges, so no single all-gather)
    for i, out in enumerate(outputs):
        dist.broadcast(out, src=dist.get_global_rank(group, i % world), group=group)
    with _decoder_swapped(vae, _Replayer(outputs)):
        return decode(z)


@contextmanager
def tiles_over_ranks(vae: nn.Module, group) -> Iterator[None]:
    """Inside the block, ``vae.decode`` spreads its decoder tiles over ``group``."""
    if group is None or dist.get_world_size(group) == 1:
        yield
        return
    original = vae.decode
    vae.decode = lambda z: distributed_decode(vae, z, group, decode=original)
    try:
        yield
    finally:
        del vae.decode
