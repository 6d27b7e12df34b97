"""The two training-free editors: what they need from a request, their default strengths, the calls."""

from __future__ import annotations

import torch

from vgen.contract.edit import EditRequest
from vgen.errors import UserError


def _prompts(name: str, request: EditRequest) -> tuple[str, str]:
    if not request.target_prompt:
        raise UserError(f"{name} needs --target-prompt (and --source-prompt: what the video shows)")
    if request.instruction:
        raise UserError(f"{name} edits with --source-prompt and --target-prompt, not an instruction")
    return request.source_prompt or "", request.target_prompt


def _strength(request: EditRequest, default: float) -> float:
    strength = default if request.strength is None else float(request.strength)
    if not 0.0 <= strength <= 1.0:
        raise UserError(f"--strength must be in [0, 1] (the sigma the edit starts at), got {strength}")
    return strength


class FlowEdit:
    """Kulikov et al., 2024 (vgen.flow.flowedit)."""

    takes = "prompts"
    # 0.9 (the shifted 20-step schedule's 0.9): 12/14 right on held-out pairs of seed 2000, vs 8/14 at 0.85 and
    # 12/14 (fewer kept in place) at 0.95; on vgen eval edits' 70 cases 58/70 (47 kept) vs 35/70 (33) at 0.8:
    # adds and size changes need it (docs/edit.md)
    default_strength = 0.9

    def edit(self, pipe, latents: torch.Tensor, request: EditRequest, generator: torch.Generator):
        from vgen.flow.flowedit import flowedit

        source, target = _prompts("flowedit", request)
        strength = _strength(request, self.default_strength)
        z, info = flowedit(pipe, latents, source, target, strength, generator, steps=request.steps,
                           guidance=request.guidance)
        return z, {**info, "strength": strength}


class SDEdit:
    """Meng et al., 2022 (vgen.flow.renoise.denoise_from)."""

    takes = "prompts"
    # 0.8: 33/70 right (30 kept in place) on vgen eval edits' cases, vs 26/70 (25) at 0.7; 0.9: 10/14 right but
    # 6/10 kept on pairs of seed 2000 (docs/edit.md)
    default_strength = 0.8

    def edit(self, pipe, latents: torch.Tensor, request: EditRequest, generator: torch.Generator):
        from vgen.flow.flowedit import edit_sigmas
        from vgen.flow.loop import resolve_options
        from vgen.flow.renoise import denoise_from

        _, target = _prompts("sdedit", request)
        strength = _strength(request, self.default_strength)
        opts = resolve_options(pipe, steps=request.steps, guidance=request.guidance)
        noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32).to(latents.device)
        z = denoise_from(pipe, latents, [target], strength, noise,
                         options={"steps": opts["steps"], "guidance": opts["guidance"]})
        sigmas = edit_sigmas(pipe, strength, opts["steps"])
        return z, {"steps": opts["steps"], "schedule": opts["schedule"], "shift": opts["shift"],
                   "guidance": opts["guidance"], "strength": strength,
                   "start_sigma": float(sigmas[0]) if len(sigmas) else 0.0, "edit_steps": max(len(sigmas) - 1, 0)}
