"""SDEdit (vgen.flow.renoise): clean latents noised to a sigma of the default schedule and denoised from there."""

import pytest
import torch

from vgen.flow.renoise import denoise_from, tail


class Oracle:
    """A pipeline whose DiT knows the clean latents ``x0``: its velocity (x - x0) / sigma is the exact flow, so any
    solver's Euler step lands on x0, whatever the noise; it records the sigmas and prompts it was called with."""

    defaults = {"steps": 20, "shift": 3.0, "guidance": 4.0, "sampler": "flow-euler", "schedule": "shifted"}

    def __init__(self, x0):
        self.x0, self.sigmas, self.prompts = x0, [], []
        self.transformer = torch.nn.Linear(1, 1)

    def encode_prompt(self, prompts, device=None, dtype=None):
        self.prompts.append(list(prompts))
        return {"ids": torch.tensor([[len(p)] for p in prompts])}

    def denoise(self, latents, timestep, text, guidance=None):
        sigma = float(timestep[0]) / 1000
        self.sigmas.append(sigma)
        return (latents - self.x0.repeat(latents.shape[0] // self.x0.shape[0], 1, 1, 1, 1)) / sigma


def test_tail_starts_at_the_first_sigma_at_or_below_and_ends_at_zero():
    pipe = Oracle(torch.zeros(1))
    full = tail(pipe, 1.0)
    assert len(full) == 21 and float(full[0]) == 1.0 and float(full[-1]) == 0.0
    half = tail(pipe, 0.5)
    assert float(half[0]) == pytest.approx(0.5) and len(half) == 6  # 0.5, 0.429, 0.346, 0.25, 0.136, 0
    assert list(half) == list(full[-6:])
    assert float(tail(pipe, 0.49)[0]) < 0.49 and list(tail(pipe, 0.0)) == [0.0]


def test_denoise_from_noises_to_the_sigma_and_integrates_back_with_guidance():
    x0 = torch.randn(2, 4, 2, 3, 3)
    pipe = Oracle(x0)
    noise = torch.randn_like(x0) * 5
    out = denoise_from(pipe, x0 + 0, ["a red circle", "a blue square"], 0.5, noise)
    assert torch.allclose(out, x0, atol=1e-4)  # the exact flow from any start returns x0
    assert pipe.sigmas[0] == pytest.approx(0.5) and len(pipe.sigmas) == 5  # from 0.5, not from 1
    assert pipe.prompts == [["a red circle", "a blue square"], ["", ""]]  # cond, then the negative (guidance 4)
    assert torch.equal(denoise_from(pipe, x0, ["x", "y"], 0.0, noise), x0)  # sigma 0: the latents as they are


def test_denoise_from_gives_the_model_the_noised_latents():
    """The state at the first step is sigma * noise + (1 - sigma) * latents: a model that returns 0 keeps it."""
    x0, noise = torch.randn(1, 2, 1, 2, 2), torch.randn(1, 2, 1, 2, 2)
    pipe = Oracle(x0)
    pipe.denoise = lambda latents, timestep, text, guidance=None: torch.zeros_like(latents)
    s = float(tail(pipe, 0.3)[0])
    assert torch.allclose(denoise_from(pipe, x0, ["p"], 0.3, noise), s * noise + (1 - s) * x0)
