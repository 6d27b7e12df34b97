"""Solvers on a tiny real model: Euler is diffusers' Euler, and the 2nd-order solvers converge faster."""

import pytest
import sample_toy
import torch

from vgen import registry
from vgen.contract import FlowSampler, Sampler
from vgen.flow import schedules
from vgen.flow.loop import generate

PROMPT = ["a red ball bouncing"]
OURS = "vgen_plugins.samplers"


def _ours() -> list[str]:
    """The first-party samplers (a third-party one installed beside them is not what these tests check)."""
    return sorted(n for n, b in registry.backends()["sampler"].items() if b.plugin == OURS)
SIZE = dict(frames=9, height=16, width=16)


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    return sample_toy.factory()


def _latents(pipe, sampler, steps, schedule="shifted"):
    return generate(pipe, PROMPT, steps=steps, sampler=sampler, schedule=schedule, shift=3.0, seed=1,
                    progress=False, decode=False, **SIZE).latents


@pytest.mark.parametrize("schedule", ["shifted", "linear-quadratic"])
def test_second_order_solvers_beat_euler_at_10_steps(pipe, schedule):
    ref = _latents(pipe, "flow-euler", 200, schedule)
    err = {s: (_latents(pipe, s, 10, schedule) - ref).norm().item()
           for s in ("flow-euler", "flow-heun", "flow-dpmpp-2m")}
    assert err["flow-heun"] < err["flow-euler"], err
    assert err["flow-dpmpp-2m"] < err["flow-euler"], err


def test_euler_equals_diffusers_scheduler_loop(pipe):
    import numpy as np
    from diffusers import FlowMatchEulerDiscreteScheduler

    steps, shift = 6, 7.0
    ours = generate(pipe, PROMPT, steps=steps, shift=shift, seed=3, progress=False, decode=False, **SIZE).latents
    sched = FlowMatchEulerDiscreteScheduler(shift=shift)
    sched.set_timesteps(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1])
    text = pipe.encode_prompt(PROMPT)
    x = torch.randn(ours.shape[1:], generator=torch.Generator().manual_seed(3))[None]
    with torch.no_grad():
        for t in sched.timesteps:
            v = pipe.denoise(x, t.expand(1), text)
            x = sched.step(v, t, x, return_dict=False)[0]
    assert torch.allclose(ours, x, atol=1e-6)


def test_stochastic_euler_equals_diffusers_stochastic_sampling(pipe):
    """flow-euler-stochastic is diffusers' FlowMatchEulerDiscreteScheduler(stochastic_sampling=True), drawing its
    step noise from the video's seeded generator after the initial noise."""
    import numpy as np
    from diffusers import FlowMatchEulerDiscreteScheduler

    steps, shift = 6, 3.0
    ours = generate(pipe, PROMPT, steps=steps, shift=shift, seed=3, sampler="flow-euler-stochastic", progress=False,
                    decode=False, **SIZE).latents
    sched = FlowMatchEulerDiscreteScheduler(shift=shift, stochastic_sampling=True)
    sched.set_timesteps(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1])
    text = pipe.encode_prompt(PROMPT)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(ours.shape[1:], generator=gen)[None]
    with torch.no_grad():
        for t in sched.timesteps:
            v = pipe.denoise(x, t.expand(1), text)
            x = sched.step(v, t, x, generator=gen, return_dict=False)[0]
    assert torch.allclose(ours, x, atol=1e-5)
    euler = generate(pipe, PROMPT, steps=steps, shift=shift, seed=3, progress=False, decode=False, **SIZE).latents
    assert not torch.allclose(ours, euler, atol=1e-3)  # the fresh noise does change the path


def test_stochastic_euler_noise_is_per_video(pipe):
    """A video's result depends on its seed, not on the batch it was drawn in."""
    alone = generate(pipe, PROMPT, steps=4, seed=5, sampler="flow-euler-stochastic", progress=False, decode=False,
                     **SIZE).latents
    pair = generate(pipe, PROMPT * 2, steps=4, seed=[9, 5], sampler="flow-euler-stochastic", progress=False,
                    decode=False, **SIZE).latents
    assert torch.allclose(pair[1:], alone, atol=1e-5)
    assert not torch.allclose(pair[:1], alone, atol=1e-3)


def test_model_calls_per_solver(pipe):
    sig = schedules.sigmas("shifted", 10, 3.0)
    calls = {n: registry.get("sampler", n).factory().model_calls(sig) for n in _ours()}
    assert calls["flow-euler"] == 10 and calls["flow-dpmpp-2m"] == 10 and calls["flow-heun"] == 19
    res = generate(pipe, PROMPT, steps=10, sampler="flow-heun", progress=False, decode=False, **SIZE)
    assert res.info["model_calls"] == 19


def test_solvers_exact_on_straight_paths():
    """When the model knows x0 (the velocity from any state points straight at it: v = (x - x0) / sigma, which is
    noise - x0 on the path), every solver lands exactly on x0; the stochastic one too, whatever noise it draws."""
    x0 = torch.randn(2, 3)
    noise = torch.randn(2, 3)

    def velocity(x, sigma):
        return (x - x0) / sigma

    sig = schedules.sigmas("shifted", 5, 5.0)
    assert _ours() == ["flow-dpmpp-2m", "flow-euler", "flow-euler-stochastic", "flow-heun"]
    for name in _ours():
        gen = torch.Generator().manual_seed(0)
        out = registry.get("sampler", name).factory().sample(velocity, noise.clone(), sig,
                                                             noise=lambda g=gen: torch.randn(2, 3, generator=g))
        assert torch.allclose(out, x0, atol=1e-5), name


def test_a_stochastic_sampler_without_noise_is_refused():
    with pytest.raises(ValueError, match="needs noise"):
        registry.get("sampler", "flow-euler-stochastic").factory().sample(lambda x, s: x, torch.zeros(1),
                                                                          torch.tensor([1.0, 0.0]))


def test_first_party_samplers_are_flow_samplers_of_the_contract():
    """The built-in solvers implement vgen.contract.Sampler through the base class in vgen/, not in the plugin."""
    for name in _ours():
        solver = registry.get("sampler", name).factory()
        assert isinstance(solver, FlowSampler) and isinstance(solver, Sampler), name
        assert solver.name == name and solver.order == registry.get("sampler", name).meta["order"]
