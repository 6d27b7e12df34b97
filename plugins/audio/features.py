"""Per-frame video features for the audio DiT (``register_video_features``), and their resampling to the latent rate.

- ``pixels``: each frame average-pooled to ``size`` x ``size`` RGB, in [-1, 1], and (``histogram``) its colour
  histogram. No weights, exact, cheap: in the shapes world what makes a sound is a colour on screen (the hum: the
  histogram) and an object at the bottom edge (the click: the thumbnail).
- ``clip``: CLIP-family image embeddings (transformers' ``CLIPVisionModelWithProjection``) from a local folder, for
  real videos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vgen.errors import UserError


def _as_tensor(frames) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (T, 3, H, W) in [0, 1]."""
    x = torch.as_tensor(np.asarray(frames))
    if x.ndim != 4 or x.shape[-1] != 3:
        raise UserError(f"frames must be (T, H, W, 3), got {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2).float() / 255.0


class PooledPixels:
    """Frames average-pooled to ``size`` x ``size`` (``3 * size * size`` features per frame: where things are), and
    with ``histogram`` = n > 0 also the frame's colour histogram over n x n x n RGB bins (``n ** 3`` more: which
    colours are shown, wherever they are), as the square root of each bin's share of the pixels so that a small
    object's colour is not lost beside the background's. The DiT reads a colour anywhere on screen from the
    histogram in one linear step; from the thumbnail alone it had not learnt it after ~500 CPU steps."""

    name = "pixels"

    def __init__(self, size: int = 16, histogram: int = 0, device="cpu"):
        self.size, self.bins = int(size), int(histogram)
        if self.size < 1 or self.bins < 0:
            raise UserError(f"pixels features need size >= 1 and histogram >= 0, got {size}, {histogram}")
        self.dim = 3 * self.size * self.size + self.bins ** 3

    def __call__(self, frames) -> torch.Tensor:
        x = _as_tensor(frames)
        pooled = (F.adaptive_avg_pool2d(x, self.size) * 2 - 1).flatten(1)
        if not self.bins:
            return pooled
        q = (x * self.bins).long().clamp(0, self.bins - 1)  # (T, 3, H, W) bin of each channel
        index = ((q[:, 0] * self.bins + q[:, 1]) * self.bins + q[:, 2]).flatten(1)
        counts = torch.zeros(len(x), self.bins ** 3).scatter_add_(1, index, torch.ones_like(index, dtype=torch.float))
        return torch.cat([pooled, (counts / index.shape[1]).sqrt()], dim=1)


class ClipFeatures:
    """CLIP image embeddings of each frame from a local transformers folder (``CLIPVisionModelWithProjection``)."""

    name = "clip"

    def __init__(self, path: str | Path | None = None, device="cpu", batch: int = 32):
        if path is None or not Path(path).is_dir():
            raise UserError(f"clip features need a local CLIP folder (features_path), got {path}")
        from transformers import CLIPVisionModelWithProjection

        self.model = CLIPVisionModelWithProjection.from_pretrained(str(path), local_files_only=True).eval().to(device)
        cfg = self.model.config
        self.image_size = cfg.image_size
        self.dim = cfg.projection_dim
        self.device = torch.device(device)
        self.batch = batch
        # CLIP's own normalisation (the processor's defaults); a folder's preprocessor_config.json wins
        self.mean, self.std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
        proc = Path(path) / "preprocessor_config.json"
        if proc.is_file():
            import json

            data = json.loads(proc.read_text())
            self.mean, self.std = data.get("image_mean", self.mean), data.get("image_std", self.std)

    @torch.no_grad()
    def __call__(self, frames) -> torch.Tensor:
        x = F.interpolate(_as_tensor(frames), size=(self.image_size, self.image_size), mode="bilinear",
                          antialias=True, align_corners=False)
        mean = torch.tensor(self.mean)[None, :, None, None]
        std = torch.tensor(self.std)[None, :, None, None]
        x = (x - mean) / std
        dtype = next(self.model.parameters()).dtype
        out = [self.model(pixel_values=x[i:i + self.batch].to(self.device, dtype)).image_embeds.float().cpu()
               for i in range(0, len(x), self.batch)]
        return torch.cat(out)


def resample(features: torch.Tensor, fps: float, frames: int, rate: float) -> torch.Tensor:
    """Per-video-frame features (T, D) -> (frames, D) at the latent ``rate``: each latent frame takes the video frame
    shown at its centre (nearest, so an event stays on one frame's span and is not smeared over two)."""
    t = (torch.arange(frames, dtype=torch.float64) + 0.5) / rate
    idx = torch.clamp((t * fps).floor().long(), 0, features.shape[0] - 1)
    return features[idx]
