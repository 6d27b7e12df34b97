"""The parity gate: the artifact and PyTorch on the same fresh random inputs, at two sizes, within a tolerance.

The relative error is max|artifact - torch| / max|torch| (one number per output, robust to near-zero entries).
"""

from __future__ import annotations

import torch

from vgen import console
from vgen.errors import UserError
from vgen.export.parts import Part

TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2, "bf16": 5e-2, "fp8": 1.5e-1}


class ParityError(UserError):
    """The artifact disagrees with PyTorch beyond the tolerance: the export fails."""


def errors(got: torch.Tensor, want: torch.Tensor) -> tuple[float, float]:
    got, want = got.detach().float().cpu(), want.detach().float().cpu()
    if got.shape != want.shape:
        raise ParityError(f"artifact output shape {tuple(got.shape)} differs from PyTorch's {tuple(want.shape)}")
    if not torch.isfinite(got).all():
        return float("inf"), float("inf")
    diff = (got - want).abs().max().item()
    return diff, diff / max(want.abs().max().item(), 1e-12)


@torch.no_grad()
def check(part: Part, run, shapes: list[dict], tolerance: float, label: str, device="cpu", seed: int = 1234
          ) -> list[dict]:
    """Run ``run(inputs)`` (the artifact) against ``part.module`` at each role-size dict in ``shapes``."""
    results = []
    generator = torch.Generator().manual_seed(seed)
    for dims in shapes:
        inputs = part.make_inputs(dims, device=device, generator=generator)
        want = part.module(*inputs)
        got = run(inputs)
        max_abs, max_rel = errors(got, want)
        size = ",".join(f"{k}={v}" for k, v in dims.items() if k in part.roles())
        console.info(f"parity {part.name} ({label}) at {size}: max abs error {max_abs:.3g}, "
                     f"max rel error {max_rel:.3g} (tolerance {tolerance:g})")
        results.append({"dims": {k: v for k, v in dims.items() if k in part.roles()},
                        "max_abs": max_abs, "max_rel": max_rel})
        if not max_rel <= tolerance:
            raise ParityError(f"parity gate failed: {part.name} ({label}) at {size} has max rel error {max_rel:.3g} "
                              f"> tolerance {tolerance:g}; the export is not written")
    return results
