"""Sigma schedules for flow matching: ``steps + 1`` float32 values from 1 (pure noise) down to 0 (data).

The model sees ``timestep = sigma * 1000``. Every function takes ``(steps, shift)``; those that do not warp by a
shift ignore it.
"""

from __future__ import annotations

import torch


def _check(steps: int) -> None:
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")


def _terminal(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas.to(torch.float32), torch.zeros(1, dtype=torch.float32)])


def linear(steps: int, shift: float | None = None) -> torch.Tensor:
    """sigma_i = 1 - i/steps."""
    _check(steps)
    return _terminal(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)[:-1])


def shifted(steps: int, shift: float | None = 1.0) -> torch.Tensor:
    """linspace(1, 0, steps+1)[:-1] warped by s*t / (1 + (s-1)*t), then a terminal 0.

    The same arithmetic, in the same float32 order, as diffusers' FlowMatchEulerDiscreteScheduler.set_timesteps
    when HunyuanVideoPipeline passes ``sigmas=np.linspace(1, 0, N+1)[:-1]``: shift 7 at 50 steps is HunyuanVideo's
    default. A larger shift spends more steps at high noise.
    """
    _check(steps)
    s = 1.0 if shift is None else float(shift)
    if s <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)[:-1].to(torch.float32)
    return _terminal(s * t / (1 + (s - 1) * t))


def linear_quadratic(steps: int, shift: float | None = None, linear_steps: int | None = None,
                     threshold: float | None = None) -> torch.Tensor:
    """MovieGen's schedule, in "time" u = 1 - sigma.

    The first ``linear_steps`` (default half) steps copy the start of a 1000-step linear schedule
    (u_i = i * threshold / linear_steps with threshold = linear_steps / 1000: at 50 steps, the first 25 steps of
    the 1000-step schedule); the remaining steps follow the quadratic that continues the line with the same value
    and slope at ``linear_steps`` and reaches u = 1 at ``steps``. At 50 steps this equals Mochi's schedule
    (threshold 0.025).
    """
    _check(steps)
    if steps == 1:
        return linear(1)
    n = steps
    k = n // 2 if linear_steps is None else int(linear_steps)
    if not 1 <= k < n:
        raise ValueError(f"linear_steps must be in [1, {n - 1}], got {k}")
    thr = k / 1000.0 if threshold is None else float(threshold)
    if not 0 < thr * n < k:  # the quadratic must rise, else the schedule is not monotone
        raise ValueError(f"threshold {thr} too large for {n} steps")
    q = n - k
    d = k - thr * n
    a = d / (k * q * q)  # u(i) = a*i^2 + b*i + c on [k, n]: u(k) = thr, u'(k) = thr/k, u(n) = 1
    b = thr / k - 2 * d / (q * q)
    c = a * k * k
    u = [i * thr / k for i in range(k)] + [a * i * i + b * i + c for i in range(k, n)]
    return _terminal(1.0 - torch.tensor(u, dtype=torch.float64))
