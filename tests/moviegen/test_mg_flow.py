"""Flow matching as MovieGen does it: the sigma_min interpolant (train setting), logit-normal t, the
linear-quadratic schedule (registered by plugins/samplers) that its pipeline samples with."""

import torch

from vgen import registry
from vgen.train.objectives.losses import flow_matching_inputs, flow_noise
from vgen.train.settings import TrainSettings


def test_sigma_min_interpolant_is_moviegens():
    g = torch.Generator().manual_seed(0)
    x1, x0 = torch.randn(3, 4, 2, 2, 2, generator=g), torch.randn(3, 4, 2, 2, 2, generator=g)  # data, noise
    t = torch.tensor([0.0, 0.3, 1.0])  # vgen's t: 1 = pure noise
    sig = 1e-5
    x_t, timestep, target = flow_matching_inputs(x1, t, x0, sigma_min=sig)
    tm = (1 - t).view(-1, 1, 1, 1, 1)  # MovieGen's t: 1 = data
    torch.testing.assert_close(x_t, tm * x1 + (1 - (1 - sig) * tm) * x0)
    torch.testing.assert_close(target, (1 - sig) * x0 - x1)  # -dX/dt' (vgen integrates from noise to data)
    torch.testing.assert_close(timestep, t * 1000)
    assert not torch.equal(target, flow_matching_inputs(x1, t, x0)[2])  # 0 (the default): the plain interpolant
    assert TrainSettings().sigma_min == 0.0


def test_logit_normal_timesteps():
    t, _ = flow_noise(torch.Generator().manual_seed(0), 20000, (1,), mean=0.0, std=1.0, shift=1.0)
    logit = torch.log(t / (1 - t))
    assert abs(float(logit.mean())) < 0.03 and abs(float(logit.std()) - 1) < 0.03


def test_linear_quadratic_schedule_values():
    sigmas = registry.get("schedule", "linear-quadratic").factory()(50, None)
    assert sigmas.shape == (51,) and sigmas.dtype == torch.float32
    # the first 25 steps are the first 25 of a 1000-step linear schedule; then quadratic to 0
    torch.testing.assert_close(sigmas[:26], 1 - torch.arange(26) / 1000.0)
    assert sigmas[-1] == 0 and bool((sigmas[1:] < sigmas[:-1]).all())
    steps = (sigmas[:-1] - sigmas[1:]).double()
    torch.testing.assert_close(steps[25:].diff().diff(), torch.full((23,), float(steps[25:].diff().diff()[0]),
                                                                     dtype=torch.float64), atol=1e-6, rtol=0)


def test_pipeline_samples_like_moviegen():
    from vgen_plugins.moviegen.pipeline import DEFAULTS

    assert DEFAULTS["schedule"] == "linear-quadratic" and DEFAULTS["steps"] == 50
    assert DEFAULTS["sampler"] == "flow-euler" and DEFAULTS["guidance"] == 7.5
