"""The guided velocity the solvers integrate.

True classifier-free guidance: ``v = v_uncond + scale * (v_cond - v_uncond)`` with the negative prompt as the
unconditional text, cond and uncond in one batch (``batch=True``) or in two passes; scale 1 skips the uncond pass.
Embedded (distilled) guidance is a per-sample value the model itself takes (HunyuanVideo's guidance embedder);
both can be on at once. ``interval=(lo, hi)`` applies true CFG only while ``lo <= sigma <= hi``.
"""

from __future__ import annotations

import torch

from vgen.pipeline import TextEmbeds, cat_text


class GuidedVelocity:
    def __init__(self, pipe, cond: TextEmbeds, uncond: TextEmbeds | None = None, *, scale: float = 1.0,
                 embedded: float | None = None, interval: tuple[float, float] | None = None, batch: bool = True,
                 device=None, dtype=None):
        self.pipe, self.cond, self.uncond = pipe, cond, uncond
        self.scale, self.embedded, self.interval, self.batch = float(scale), embedded, interval, batch
        self.device, self.dtype = device, dtype
        self.calls = 0  # model forward passes (a batched CFG call counts once)
        self._both = cat_text([cond, uncond]) if uncond is not None and batch else None

    def cfg_active(self, sigma) -> bool:
        if self.uncond is None or self.scale == 1.0:
            return False
        if self.interval is None:
            return True
        lo, hi = self.interval
        return lo <= float(sigma) <= hi

    def _model(self, x: torch.Tensor, sigma: torch.Tensor, text: TextEmbeds) -> torch.Tensor:
        n = x.shape[0]
        timestep = (sigma.to(torch.float32) * 1000).reshape(1).expand(n).to(x.device)
        g = None
        if self.embedded is not None:
            g = torch.full((n,), float(self.embedded), dtype=torch.float32, device=x.device)
        self.calls += 1
        v = self.pipe.denoise(x.to(self.dtype or x.dtype), timestep, text, guidance=g)
        return v.to(torch.float32)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if not self.cfg_active(sigma):
            return self._model(x, sigma, self.cond)
        if self.batch:
            v_cond, v_uncond = self._model(torch.cat([x, x]), sigma, self._both).chunk(2)
        else:
            v_cond = self._model(x, sigma, self.cond)
            v_uncond = self._model(x, sigma, self.uncond)
        return v_uncond + self.scale * (v_cond - v_uncond)
