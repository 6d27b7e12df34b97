"""What ``register_samplers`` and ``register_schedules`` register: a ``Sampler`` and a ``Schedule``.

Factories (called when the backend is used, with no arguments by vgen):

- ``register_samplers``:  ``register(name, factory, order=..., description=...)``; ``factory(**options) -> Sampler``.
- ``register_schedules``: ``register(name, factory, uses_shift=..., description=...)``; ``factory() -> Schedule``.

Flow matching as vgen samples it: the state is ``x_sigma = sigma * noise + (1 - sigma) * x0``; the model gives the
velocity ``v = noise - x0``, so ``dx/dsigma = v`` and the data prediction is ``x0 = x - sigma * v``. Sigmas run from 1
(pure noise) down to a terminal 0; the model sees ``timestep = sigma * 1000``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch

# velocity(x, sigma) -> v: ``x`` the float32 state (B, C, T, H, W); ``sigma`` a 0-d float32 tensor (one element of
# the ``sigmas`` table, never a Python float: the guided model multiplies it into timesteps on x's device).
Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@runtime_checkable
class Schedule(Protocol):
    """``schedule(steps, shift) -> sigmas``: a float32 tensor of ``steps + 1`` falling values from 1 to a terminal 0.

    ``shift`` may be None; a schedule that does not warp by a shift ignores it (register it with
    ``uses_shift=False`` so that ``vgen sample`` warns when ``--shift`` is given). A ValueError becomes a user error.
    """

    def __call__(self, steps: int, shift: float | None = None) -> torch.Tensor: ...


@runtime_checkable
class Sampler(Protocol):
    """An ODE/SDE solver over a sigma table. Subclass ``FlowSampler`` to write only the step."""

    name: str
    order: int  # 1 = Euler-like; shown in ``vgen plugins``
    stochastic: bool  # True: ``sample`` needs ``noise`` (the sampling loop passes a seeded per-video source)

    def model_calls(self, sigmas: torch.Tensor) -> int:
        """How many times ``sample`` calls ``velocity`` for this table (progress bars and the sidecar count it)."""

    def sample(self, velocity: Velocity, x: torch.Tensor, sigmas: torch.Tensor,
               constrain: Callable[[torch.Tensor], torch.Tensor] | None = None,
               on_step: Callable[[int, torch.Tensor], None] | None = None,
               noise: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
        """Integrate ``x`` (at ``sigmas[0]``) down to ``sigmas[-1]`` and return the float32 result.

        ``velocity(x, sigma)`` is the (guided) model, with ``sigma`` a 0-d float32 tensor; ``constrain(x)``
        re-imposes known content (image-to-video keeps the first latent frame) on every state the model sees and on
        every result; ``on_step(i, x)`` reports progress after step ``i``; ``noise()`` draws fresh noise shaped like
        the state (seeded per video by the sampling loop, so a video does not depend on its batch).
        """


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class FlowSampler(abc.ABC):
    """Base class of a ``Sampler``: the loop over the table, with ``step`` left to the subclass.

    State and arithmetic are float32 whatever the model's dtype.
    """

    name = ""
    order = 1
    stochastic = False  # True: ``sample`` needs ``noise``

    def model_calls(self, sigmas: torch.Tensor) -> int:
        """How many times ``sample`` calls ``velocity`` for this table."""
        return len(sigmas) - 1

    def sample(self, velocity: Velocity, x: torch.Tensor, sigmas: torch.Tensor,
               constrain: Callable | None = None, on_step: Callable | None = None,
               noise: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
        constrain = constrain or _identity
        x = constrain(x.float())
        sigmas = sigmas.to(torch.float32)
        if self.stochastic and noise is None:
            raise ValueError(f"{self.name} is stochastic: sample() needs noise")
        state: dict = {"noise": noise}
        for i in range(len(sigmas) - 1):
            x = constrain(self.step(velocity, x, sigmas[i], sigmas[i + 1], state, constrain))
            if on_step is not None:
                on_step(i, x)
        return x

    @abc.abstractmethod
    def step(self, velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
             state: dict, constrain: Callable) -> torch.Tensor:
        """One update from ``sigma`` to ``sigma_next`` (0-d tensors); ``state`` carries what multistep solvers
        remember between steps, and ``state["noise"]`` is the ``noise`` source."""


SamplerFactory = Callable[..., Sampler]  # factory(**options) -> Sampler; vgen calls factory()
ScheduleFactory = Callable[[], Schedule]  # factory() -> Schedule
