"""The contract between model families and the stages (sample, train, edit, export).

A pipeline plugin registers ``register("name", factory, description=...)`` in ``register_pipelines``; the factory is
``factory(weights=None, config=None, device="cpu", dtype=torch.float32, **options) -> VideoPipeline``:
``weights`` is a diffusers-layout folder to load, ``config`` a dict (or preset name) to build random weights from.

Stages only talk to the methods below, so they know nothing of a particular model. Shapes are batch-first;
videos are (B, C, T, H, W); pixel values are in [-1, 1] going into the VAE and [0, 1] coming out of ``decode``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

TextEmbeds = dict[str, torch.Tensor]  # what the DiT takes besides latents: hidden states, masks, pooled vectors


@runtime_checkable
class VideoPipeline(Protocol):
    name: str  # the registered family name
    latent_channels: int
    temporal_compression: int  # frames -> latent frames: (T - 1) // temporal_compression + 1
    spatial_compression: int  # pixels -> latent pixels
    size_multiple: int  # height and width must be multiples of this (VAE x patch)
    defaults: dict  # steps, shift, guidance, frames, height, width, fps, schedule, sampler
    transformer: torch.nn.Module  # the denoiser; what train optimises and export exports
    vae: torch.nn.Module

    def encode_prompt(self, prompts: list[str], device=None, dtype=None) -> TextEmbeds:
        """Text conditioning for a batch of prompts (the negative prompt is just another prompt)."""

    def denoise(self, latents: torch.Tensor, timestep: torch.Tensor, text: TextEmbeds,
                guidance: torch.Tensor | None = None) -> torch.Tensor:
        """The predicted flow velocity (noise - x0) at ``timestep`` = sigma * 1000, shape (B,)."""

    def encode_video(self, video: torch.Tensor, sample: bool = False,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Scaled latents of a video in [-1, 1] (the mean, or a sample of the posterior)."""

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Frames in [0, 1] of scaled latents."""

    def to(self, device=None, dtype=None) -> VideoPipeline:
        ...

    def save(self, folder: str | Path) -> Path:
        """Write the pipeline in its (diffusers) folder layout."""

    def weight_files(self) -> list[Path]:
        """The files the weights came from (for provenance hashes); empty for random weights."""


def cat_text(parts: list[TextEmbeds]) -> TextEmbeds:
    """Concatenate text conditioning along the batch (CFG batches cond and uncond); pads sequence lengths."""
    out: TextEmbeds = {}
    for key in parts[0]:
        tensors = [p[key] for p in parts]
        if tensors[0].dim() >= 2 and len({t.shape[1] for t in tensors}) > 1:
            longest = max(t.shape[1] for t in tensors)
            tensors = [torch.nn.functional.pad(t, [0, 0] * (t.dim() - 2) + [0, longest - t.shape[1]])
                       for t in tensors]
        out[key] = torch.cat(tensors, dim=0)
    return out


def repeat_text(text: TextEmbeds, n: int) -> TextEmbeds:
    return {k: v.repeat_interleave(n, dim=0) for k, v in text.items()}


def latent_shape(pipe: VideoPipeline, batch: int, frames: int, height: int, width: int) -> tuple[int, ...]:
    return (batch, pipe.latent_channels, (frames - 1) // pipe.temporal_compression + 1,
            height // pipe.spatial_compression, width // pipe.spatial_compression)
