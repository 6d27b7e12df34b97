"""Small layers shared by the DiT families: timestep sinusoids, MLP embedders, feed-forward, adaLN modulation.

Module and parameter names follow diffusers' (``linear_1``/``linear_2``, ``net.0.proj``/``net.2``, ``linear``) so
diffusers checkpoints load with identical keys.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (N, dim) of timesteps (N,) in float32, laid out [cos, sin] (frequencies descending)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class MLPEmbedder(nn.Module):
    """Linear -> SiLU -> Linear: timestep, guidance and pooled-text embedders."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int | None = None):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, hidden_dim)
        self.linear_2 = nn.Linear(hidden_dim, out_dim or hidden_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


class _Projection(nn.Module):
    """Holds the input projection of ``FeedForward`` (its name gives the checkpoint key ``net.0.proj``)."""

    def __init__(self, dim: int, inner_dim: int):
        super().__init__()
        self.proj = nn.Linear(dim, inner_dim)


class FeedForward(nn.Module):
    """Linear -> activation -> Linear; ``activation`` is "gelu-tanh" or "silu"."""

    def __init__(self, dim: int, inner_dim: int, activation: str = "gelu-tanh"):
        super().__init__()
        if activation not in ("gelu-tanh", "silu"):
            raise ValueError(f"unknown activation {activation!r}")
        self.activation = activation
        # net.1 (diffusers' dropout) has no weights; Identity keeps the indices and thus the keys net.0 / net.2
        self.net = nn.ModuleList([_Projection(dim, inner_dim), nn.Identity(), nn.Linear(inner_dim, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net[0].proj(x)
        h = F.gelu(h, approximate="tanh") if self.activation == "gelu-tanh" else F.silu(h)
        return self.net[2](h)


class AdaLNModulation(nn.Module):
    """``n`` per-sample vectors (shift, scale, gate, ...) from the conditioning vector: Linear(SiLU(c)).chunk(n)."""

    def __init__(self, dim: int, n: int, cond_dim: int | None = None):
        super().__init__()
        self.n = n
        self.linear = nn.Linear(cond_dim or dim, n * dim)

    def forward(self, cond: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # (B, n*dim) -> n tensors of (B, 1, dim), ready to broadcast over tokens
        return self.linear(F.silu(cond))[:, None].chunk(self.n, dim=-1)


def layer_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """LayerNorm over the last dim without affine weights (adaLN supplies scale and shift)."""
    return F.layer_norm(x, x.shape[-1:], eps=eps)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x * (1 + scale) + shift, in one fused kernel."""
    return torch.addcmul(shift, x, 1 + scale)


def gated_add(x: torch.Tensor, gate: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The gated residual x + gate * y, in one fused kernel."""
    return torch.addcmul(x, gate, y)
