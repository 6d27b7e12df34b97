"""Rotary position embedding over a 3D (time, height, width) token grid.

Each attention head's channels are split per axis (e.g. 16 for time, 56 for height, 56 for width in HunyuanVideo);
within an axis, channel pair (2i, 2i+1) is rotated by the angle ``position * theta ** (-2i / axis_dim)``. This is the
"cos/sin repeat-interleaved" form (adjacent channels pair). Tables hold (cos, sin) per (token, pair): shape (L, D/2, 2).

Applying it is a complex multiply (a pair is one complex number), a single elementwise kernel in eager mode. Inductor
generates no code for complex ops, so under ``torch.compile`` the same rotation is written in real arithmetic, which it
fuses into one kernel as well.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def rope_angles_1d(dim: int, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotation angles (len(positions), dim // 2) of one axis: position * theta^(-2i/dim)."""
    if dim % 2:
        raise ValueError(f"a RoPE axis needs an even number of channels, got {dim}")
    inv_freq = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) / dim)
    return torch.outer(positions.float(), inv_freq)


def rope_3d(grid: Sequence[int], axes_dim: Sequence[int], theta: float,
            device: torch.device | str | None = None) -> torch.Tensor:
    """(cos, sin) table (t*h*w, sum(axes_dim) // 2, 2), float32, for integer positions from 0 on a (t, h, w) grid.

    Tokens are in raster order (time outermost, width innermost), the order of ``x.flatten(2)`` on (B, C, T, H, W).
    """
    axes = torch.meshgrid(*(torch.arange(n, device=device) for n in grid), indexing="ij")
    angles = torch.cat([rope_angles_1d(d, a.reshape(-1), theta) for d, a in zip(axes_dim, axes, strict=True)], dim=1)
    return torch.stack([angles.cos(), angles.sin()], dim=-1)


def pad_rope(rope: torch.Tensor, n: int) -> torch.Tensor:
    """Append ``n`` identity rotations (cos 1, sin 0) for tokens without a position, e.g. text after the video."""
    identity = rope.new_zeros(n, *rope.shape[1:])
    identity[..., 0] = 1
    return torch.cat([rope, identity], dim=0)


def apply_rope(x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of ``x`` (..., D) by ``rope`` ((cos, sin) pairs broadcastable to (..., D // 2, 2)).

    Computed in float32, returned in ``x``'s dtype. Identity rotations leave values bit-exact.
    """
    pairs = x.float().unflatten(-1, (-1, 2))
    if torch.compiler.is_compiling():
        a, b, cos, sin = pairs[..., 0], pairs[..., 1], rope[..., 0], rope[..., 1]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2).type_as(x)
    return torch.view_as_real(torch.view_as_complex(pairs) * torch.view_as_complex(rope)).flatten(-2).type_as(x)
