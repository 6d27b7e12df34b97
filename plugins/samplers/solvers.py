"""Flow-matching ODE solvers: each one a ``FlowSampler`` (vgen.contract.sampler) that writes only its step.

The state is ``x_sigma = sigma * noise + (1 - sigma) * x0``; the model gives the velocity ``v = noise - x0``, so
``dx/dsigma = v`` and the data prediction is ``x0 = x - sigma * v``. ``sigmas`` run from 1 down to a terminal 0.
``state["noise"]()`` draws fresh noise shaped like the state, for the samplers that are ``stochastic``.
"""

from __future__ import annotations

import math

import torch

from vgen.contract.sampler import FlowSampler


class FlowEuler(FlowSampler):
    """First order; the update diffusers' FlowMatchEulerDiscreteScheduler.step makes."""

    name = "flow-euler"

    def step(self, velocity, x, sigma, sigma_next, state, constrain):
        return x + (sigma_next - sigma) * velocity(x, sigma)


class FlowEulerStochastic(FlowSampler):
    """Ancestral Euler: predict x0, then re-noise it to the next sigma with fresh noise,
    x_next = (1 - sigma_next) x0 + sigma_next eps; diffusers' FlowMatchEulerDiscreteScheduler with
    ``stochastic_sampling=True``. Each step forgets the noise the last one left, so an early wrong turn (a layout the
    model half-commits to at high noise) can still be undone later; the price is a less exact path for a given noise."""

    name = "flow-euler-stochastic"
    stochastic = True

    def step(self, velocity, x, sigma, sigma_next, state, constrain):
        x0 = x - sigma * velocity(x, sigma)
        if float(sigma_next) == 0.0:
            return x0
        return (1.0 - sigma_next) * x0 + sigma_next * state["noise"]().to(x.device, torch.float32)


class FlowHeun(FlowSampler):
    """Second order (explicit trapezoid): an Euler predictor, then the mean of both slopes.

    The last step into sigma = 0 stays Euler (the velocity at pure data is never trained), as in EDM and k-diffusion.
    """

    name = "flow-heun"
    order = 2

    def model_calls(self, sigmas: torch.Tensor) -> int:
        return 2 * (len(sigmas) - 1) - int((sigmas[1:] == 0).sum())

    def step(self, velocity, x, sigma, sigma_next, state, constrain):
        h = sigma_next - sigma
        v = velocity(x, sigma)
        guess = x + h * v
        if float(sigma_next) == 0.0:
            return guess
        return x + h * 0.5 * (v + velocity(constrain(guess), sigma_next))


class FlowDPMpp2M(FlowSampler):
    """DPM-Solver++ (2M) with alpha = 1 - sigma: exact exponential integration of a data prediction that is
    extrapolated linearly in log-SNR from the last two model calls.

    x_next = (s'/s) x + (a' - a s'/s) D, with D = x0 on the first step, on the step into sigma = 0 and after a step
    from sigma = 1 (infinite log-SNR gap), else D = (1 + 1/2r) x0 - (1/2r) x0_prev with r = h_prev / h.
    """

    name = "flow-dpmpp-2m"
    order = 2

    @staticmethod
    def _lam(sigma: float) -> float:
        a = 1.0 - sigma
        if a <= 0:
            return -math.inf
        if sigma <= 0:
            return math.inf
        return math.log(a / sigma)

    def step(self, velocity, x, sigma, sigma_next, state, constrain):
        s, s1 = float(sigma), float(sigma_next)
        x0 = x - sigma * velocity(x, sigma)
        h = self._lam(s1) - self._lam(s)
        d = x0
        h_prev, x0_prev = state.get("h"), state.get("x0")
        if x0_prev is not None and math.isfinite(h) and h_prev is not None and math.isfinite(h_prev):
            r = h_prev / h
            d = (1 + 0.5 / r) * x0 - (0.5 / r) * x0_prev
        state["h"], state["x0"] = h, x0
        ratio = s1 / s
        return ratio * x + ((1.0 - s1) - (1.0 - s) * ratio) * d
