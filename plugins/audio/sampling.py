"""Sampling the audio DiT: the midpoint (second-order) solver over a shifted sigma schedule, with classifier-free
guidance (the unconditional input has neither video nor prompt)."""

from __future__ import annotations

import torch


def sigmas(steps: int, shift: float = 1.0) -> torch.Tensor:
    """``steps + 1`` float32 sigmas from 1 to 0 (linear, then shifted: more steps at high noise when shift > 1)."""
    s = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    return (shift * s / (1 + (shift - 1) * s)).float()


def velocity(dit, x, sigma, context, mask, features, words, guidance: float):
    """The guided velocity at noise level ``sigma`` (0-d); context positions of ``x`` are zeroed as in training."""
    x = x * (1 - mask)
    b = x.shape[0]
    if guidance == 1.0:
        return dit(x, sigma.expand(b), context, mask, features, words)
    both = lambda t: torch.cat([t, t])  # noqa: E731
    video = torch.cat([torch.ones(b), torch.zeros(b)]).to(x.device)
    text = torch.cat([words, torch.zeros_like(words)])
    v = dit(both(x), sigma.expand(2 * b), both(context), both(mask), both(features), text, video=video)
    cond, uncond = v.chunk(2)
    return uncond + guidance * (cond - uncond)


def midpoint_sample(dit, noise, context, mask, features, words, steps: int, guidance: float,
                    shift: float = 1.0) -> torch.Tensor:
    """Integrate dx/dsigma = v from sigma 1 (``noise``) to 0 with the midpoint rule (two model calls a step);
    positions where ``mask`` is 1 come back as ``context``."""
    table = sigmas(steps, shift).to(noise.device)
    x = noise.float()
    for i in range(steps):
        s, s_next = table[i], table[i + 1]
        mid = (s + s_next) / 2
        v = velocity(dit, x, s, context, mask, features, words, guidance)
        x_mid = x + (mid - s) * v
        v = velocity(dit, x_mid, mid, context, mask, features, words, guidance)
        x = x + (s_next - s) * v
    return x * (1 - mask) + context * mask
