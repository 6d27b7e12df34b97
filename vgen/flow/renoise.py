"""Renoising (SDEdit's half of sampling): clean latents noised to a sigma, then denoised by the model from there.

Starting from a real clip's latents keeps its layout (how many objects, where, which way they move) and leaves only
the last steps of sampling to the model, so what comes out is what those steps make of detail. Two users: the
VAE round trip's ``--sigma`` (where does a model lose detail) and decoder training with ``decode_from = "denoised"``
(a decoder fitted to the latents the DiT hands it, not only to the encoder's).
"""

from __future__ import annotations

import torch

from vgen import registry
from vgen.flow import schedules
from vgen.flow.guidance import GuidedVelocity
from vgen.flow.loop import module_place, resolve_options


def _from(opts: dict, sigma: float) -> torch.Tensor:
    table = schedules.sigmas(opts["schedule"], opts["steps"], opts["shift"])
    return table[int((table > sigma + 1e-6).sum()):]


def tail(pipe, sigma: float) -> torch.Tensor:
    """The sigmas of the pipeline's default schedule from the first one at or below ``sigma`` down to 0."""
    return _from(resolve_options(pipe), sigma)


@torch.no_grad()
def denoise_from(pipe, latents: torch.Tensor, prompts: list[str], sigma: float, noise: torch.Tensor, *,
                 negative: str = "", dtype: torch.dtype | None = None, options: dict | None = None) -> torch.Tensor:
    """``latents`` (B, C, t, h, w, scaled as ``encode_video`` gives them) noised with ``noise`` to the first sigma
    of the default schedule at or below ``sigma``, then the default sampler and guidance down to 0. Returns float32
    latents; ``sigma`` 0 returns them as they are. ``options`` (steps, guidance, ...) override the pipeline's
    defaults as ``resolve_options`` takes them."""
    opts = resolve_options(pipe, **(options or {}))
    sigmas = _from(opts, sigma).to(latents.device)
    x = latents.float()
    if len(sigmas) < 2:
        return x
    x = sigmas[0] * noise.to(x) + (1 - sigmas[0]) * x
    dtype = dtype or module_place(pipe.transformer)[1]
    cond = pipe.encode_prompt(list(prompts), device=latents.device, dtype=dtype)
    uncond = None
    if opts["guidance"] != 1.0:
        uncond = pipe.encode_prompt([negative] * len(prompts), device=latents.device, dtype=dtype)
    velocity = GuidedVelocity(pipe, cond, uncond, scale=opts["guidance"], embedded=opts["embedded_guidance"],
                              device=latents.device, dtype=dtype)
    solver = registry.get("sampler", opts["sampler"]).factory()
    extra = {"noise": lambda: torch.randn_like(x)} if getattr(solver, "stochastic", False) else {}
    return solver.sample(velocity, x, sigmas, **extra).float()
