"""FlowEdit (Kulikov et al., 2024): edit a video with a flow model without inverting it.

SDEdit throws the source away above the sigma it starts from; FlowEdit keeps it. At each step from the start sigma
down, the source latents are noised afresh (``zs = (1 - s) * x_src + s * noise``), the edited state is moved by the
same offset (``zt = z + zs - x_src``), and the edit integrates only the *difference* of the target- and
source-conditioned velocities at those two points. What both prompts agree on cancels, so what the prompts do not
name stays; at strength 0 nothing moves.
"""

from __future__ import annotations

import torch

from vgen.flow import schedules
from vgen.flow.guidance import GuidedVelocity
from vgen.flow.loop import module_place, resolve_options


def edit_sigmas(pipe, strength: float, steps: int | None = None) -> torch.Tensor:
    """The pipeline's schedule (``steps`` over [1, 0]) from the first sigma at or below ``strength`` down to 0."""
    opts = resolve_options(pipe, steps=steps)
    table = schedules.sigmas(opts["schedule"], opts["steps"], opts["shift"])
    return table[int((table > float(strength) + 1e-6).sum()):]


def _velocity(pipe, prompt: str, negative: str, scale: float, embedded, device, dtype) -> GuidedVelocity:
    cond = pipe.encode_prompt([prompt], device=device, dtype=dtype)
    uncond = pipe.encode_prompt([negative], device=device, dtype=dtype) if scale != 1.0 else None
    return GuidedVelocity(pipe, cond, uncond, scale=scale, embedded=embedded, device=device, dtype=dtype)


@torch.no_grad()
def flowedit(pipe, latents: torch.Tensor, source_prompt: str, target_prompt: str, strength: float,
             generator: torch.Generator, *, steps: int | None = None, guidance: float | None = None,
             source_guidance: float | None = None, negative: str = "", dtype: torch.dtype | None = None
             ) -> tuple[torch.Tensor, dict]:
    """Edited latents (float32) of ``latents`` (B=1, scaled as ``encode_video`` gives them) and the settings used.

    ``guidance`` scales the target velocity's CFG, ``source_guidance`` the source's (default: the same); unset
    values come from ``pipe.defaults``. One noise draw per step, from ``generator``."""
    opts = resolve_options(pipe, steps=steps, guidance=guidance)
    sigmas = edit_sigmas(pipe, strength, opts["steps"])
    x_src = latents.float()
    z = x_src.clone()
    device = latents.device
    dtype = dtype or module_place(pipe.transformer)[1]
    src_scale = float(source_guidance if source_guidance is not None else opts["guidance"])
    info = dict(steps=opts["steps"], schedule=opts["schedule"], shift=opts["shift"], guidance=opts["guidance"],
                source_guidance=src_scale, start_sigma=float(sigmas[0]) if len(sigmas) else 0.0,
                edit_steps=max(len(sigmas) - 1, 0))
    if len(sigmas) < 2:
        return z, {**info, "model_calls": 0}
    v_src = _velocity(pipe, source_prompt, negative, src_scale, opts["embedded_guidance"], device, dtype)
    v_tar = _velocity(pipe, target_prompt, negative, opts["guidance"], opts["embedded_guidance"], device, dtype)
    for s, s_next in zip(sigmas[:-1], sigmas[1:], strict=True):
        noise = torch.randn(x_src.shape, generator=generator, dtype=torch.float32).to(device)
        zs = (1 - s) * x_src + s * noise
        zt = z + zs - x_src
        sigma = s.to(torch.float32)
        z = z + (s_next - s) * (v_tar(zt, sigma) - v_src(zs, sigma))
    return z, {**info, "model_calls": v_src.calls + v_tar.calls}
