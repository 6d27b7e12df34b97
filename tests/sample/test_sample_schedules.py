"""Sigma tables against diffusers' FlowMatchEulerDiscreteScheduler (the way HunyuanVideoPipeline drives it), and
MovieGen's linear-quadratic schedule against its definition."""

import json

import numpy as np
import pytest
import torch

from vgen.errors import UserError
from vgen.flow import schedules


@pytest.mark.parametrize("shift", [1.0, 5.0, 7.0, 17.0])
@pytest.mark.parametrize("steps", [1, 10, 50])
def test_shifted_matches_diffusers(shift, steps):
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(shift=shift)
    sched.set_timesteps(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1], device="cpu")  # HunyuanVideoPipeline's call
    ours = schedules.sigmas("shifted", steps, shift)
    assert ours.shape == sched.sigmas.shape == (steps + 1,)
    assert torch.allclose(ours, sched.sigmas, atol=1e-6, rtol=0)
    ts = schedules.timesteps("shifted", steps, shift)
    assert torch.allclose(ts / 1000, sched.timesteps / 1000, atol=1e-6, rtol=0)
    assert torch.allclose(ts, sched.timesteps, atol=1e-3, rtol=0)


def test_shift_one_is_linear_and_shift_moves_steps_to_high_noise():
    assert torch.equal(schedules.sigmas("shifted", 10, 1.0), schedules.sigmas("linear", 10))
    assert torch.allclose(schedules.sigmas("linear", 4), torch.tensor([1, 0.75, 0.5, 0.25, 0]))
    assert (schedules.sigmas("shifted", 10, 7.0)[1:-1] > schedules.sigmas("linear", 10)[1:-1]).all()


@pytest.mark.parametrize("steps", [2, 7, 10, 50, 100])
def test_linear_quadratic_definition(steps):
    s = schedules.sigmas("linear-quadratic", steps).double()
    u = 1 - s  # "time" from 0 (noise) to 1 (data)
    k = steps // 2
    thr = k / 1000  # the first k steps are the first k steps of a 1000-step linear schedule
    assert s[0] == 1 and s[-1] == 0 and (s[1:] < s[:-1]).all()
    assert torch.allclose(u[:k + 1], torch.arange(k + 1, dtype=torch.float64) / 1000, atol=1e-6)
    # the rest is one quadratic in the step index, with the line's value and slope where it starts
    i = torch.arange(k, steps + 1, dtype=torch.float64)
    coef = np.polyfit(i.numpy(), u[k:].numpy(), 2) if steps - k >= 2 else None
    if coef is not None:
        assert np.allclose(np.polyval(coef, i.numpy()), u[k:].numpy(), atol=1e-6)
        assert abs(2 * coef[0] * k + coef[1] - thr / k) < 1e-5  # C1 at the joint
        assert abs(np.polyval(coef, k) - thr) < 1e-6


def test_linear_quadratic_equals_moviegen_50_steps_as_mochi_implements_it():
    from diffusers.pipelines.mochi.pipeline_mochi import linear_quadratic_schedule

    ref = torch.tensor(linear_quadratic_schedule(50, 0.025) + [0.0], dtype=torch.float32)
    assert torch.allclose(schedules.sigmas("linear-quadratic", 50), ref, atol=1e-6)


def test_bad_steps_and_unknown_schedule():
    with pytest.raises(UserError, match="steps"):
        schedules.sigmas("shifted", 0, 7.0)
    with pytest.raises(UserError, match="unknown schedule 'nope'; known: .*linear-quadratic"):
        schedules.sigmas("nope", 10)


def test_plugins_lists_samplers_and_schedules_with_descriptions(capsys):
    from vgen.cli import main

    assert main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["plugins"]
    backends = {(b["kind"], b["name"]): b["description"] for r in rows for b in r["backends"]
                if r["plugin"] == "vgen_plugins.samplers"}
    for kind, names in (("sampler", ["flow-euler", "flow-heun", "flow-dpmpp-2m"]),
                        ("schedule", ["shifted", "linear-quadratic", "linear"])):
        for name in names:
            assert backends.get((kind, name)), (kind, name)
