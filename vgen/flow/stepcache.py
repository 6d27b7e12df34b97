"""Step caching: first-block residual caching (ParaAttention's "FBCache"), for every pipeline that cuts its DiT after
the first block (``denoiser_split``, vgen.pipeline.DenoiserSplit).

Each model call runs the DiT's input layers and its first block. When what the first block changed (its residual,
the ``probe``) differs from the probe of the last fully computed call by less than ``threshold`` (mean absolute
difference over mean absolute value), the other blocks are skipped and the residual they added in that full call is
added instead; the output layers always run. From one step to the next a flow ODE's state changes little, and the
first block's change tracks how much the whole DiT's output would change, so the skipped calls cost little fidelity
(docs/speed.md measures it on the default model). Comparing with the last *full* call, not the last call, keeps the
drift bounded: a run of skips ends as soon as the inputs have moved ``threshold`` away from what was computed.

One decision per model evaluation, for the whole batch: the batched CFG pair [cond; uncond] and every video of a
batch are skipped or computed together (the change is the largest over the batch's items); with ``--no-cfg-batch``
the uncond pass follows the decision of the cond pass. Each pass keeps its own cache (by its place in the evaluation
and its shape), so a guidance interval that switches CFG on or off starts a new one.
"""

from __future__ import annotations

import contextlib

import torch

from vgen.errors import UserError


def change(probe: torch.Tensor, before: torch.Tensor) -> float:
    """The largest over the batch of mean |probe - before| / mean |before| (per batch item)."""
    dims = tuple(range(1, probe.dim()))
    diff = (probe - before).abs().float().mean(dims)
    return float((diff / before.abs().float().mean(dims).clamp_min(1e-12)).max())


class StepCache:
    """Counts the full and skipped model calls; ``wrap(velocity)`` marks the solver's evaluations and
    ``installed()`` routes the DiT's forward through the cache."""

    def __init__(self, split, threshold: float):
        self.split, self.threshold = split, float(threshold)
        self.full = self.skipped = 0
        self._slots: dict = {}  # (call index in the evaluation, shape) -> (probe, residual) of its last full call
        self._index = 0  # model calls so far in this evaluation
        self._skip: bool | None = None  # this evaluation's decision, made by its first call

    def wrap(self, velocity):
        """``velocity(x, sigma)`` that starts a new evaluation each call (one decision per evaluation)."""
        def evaluate(x, sigma):
            self._index, self._skip = 0, None
            return velocity(x, sigma)

        return evaluate

    @contextlib.contextmanager
    def installed(self):
        """Inside: ``split.module``'s forward goes through the cache (its hooks still run around it)."""
        module = self.split.module
        own = vars(module).get("forward")  # an instance-level forward someone else set: restored after
        module.forward = self._forward
        try:
            yield self
        finally:
            if own is None:
                del module.forward
            else:
                module.forward = own

    def _forward(self, *args, **kwargs):
        probe, hidden, state = self.split.head(*args, **kwargs)
        key = (self._index, tuple(hidden.shape))
        self._index += 1
        slot = self._slots.get(key)
        if self._skip is None:
            self._skip = slot is not None and change(probe, slot[0]) < self.threshold
        if self._skip and slot is not None:
            self.skipped += 1
            return self.split.finish(hidden + slot[1], state)
        out = self.split.rest(hidden, state)
        self._slots[key] = (probe, out - hidden)
        self.full += 1
        return self.split.finish(out, state)

    def summary(self) -> dict:
        """What the sidecar records: the threshold and the DiT calls computed in full and skipped."""
        return {"threshold": self.threshold, "full_calls": self.full, "skipped_calls": self.skipped}


def step_cache(pipe, threshold: float) -> StepCache | None:
    """The cache for ``pipe`` at ``threshold`` (None when 0: off); a UserError when the pipeline cannot split."""
    threshold = float(threshold or 0.0)
    if not threshold >= 0:  # NaN too
        raise UserError(f"--step-cache must be >= 0 (0 = off), got {threshold}")
    if threshold == 0:
        return None
    split = getattr(pipe, "denoiser_split", None)
    if split is None:  # a pipeline that implements the protocol without PipelineBase
        raise UserError(f"pipeline {getattr(pipe, 'name', '?')} cannot cache steps (it does not split its denoiser "
                        "after the first block): drop --step-cache")
    return StepCache(split(), threshold)


def installed(cache: StepCache | None):
    """``cache.installed()``, or nothing when caching is off."""
    return cache.installed() if cache is not None else contextlib.nullcontext()
