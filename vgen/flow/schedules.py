"""Sigma tables by schedule name (through the registry, so plugin schedules work too)."""

from __future__ import annotations

import torch

from vgen import registry
from vgen.errors import UserError


def sigmas(name: str, steps: int, shift: float | None = None) -> torch.Tensor:
    """``steps + 1`` float32 sigmas from 1 to 0 of schedule ``name``; the model's timesteps are
    ``sigmas[:-1] * 1000``."""
    if steps < 1:
        raise UserError(f"steps must be at least 1, got {steps}")
    fn = registry.get("schedule", name).factory()
    try:
        table = fn(steps, shift)
    except ValueError as exc:
        raise UserError(f"schedule {name!r}: {exc}") from None
    table = torch.as_tensor(table, dtype=torch.float32)
    if table.shape != (steps + 1,) or float(table[0]) > 1 or float(table[-1]) != 0 or (table[1:] > table[:-1]).any():
        raise UserError(f"schedule {name!r} gave a bad table (want {steps + 1} falling values ending at 0)")
    return table


def timesteps(name: str, steps: int, shift: float | None = None) -> torch.Tensor:
    """What the model sees at each step: ``sigma * 1000`` in float32."""
    return sigmas(name, steps, shift)[:-1] * 1000


def uses_shift(name: str) -> bool:
    return bool(registry.get("schedule", name).meta.get("uses_shift", False))
