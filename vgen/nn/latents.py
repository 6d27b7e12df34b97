"""What a pipeline whose latents are its VAE's latents times ``scaling_factor`` gets for free: the device and dtype
of its denoiser, and scaled latents in and out of pixel space.

A mixin of pipeline classes that hold ``self.transformer`` (the denoiser) and ``self.vae``: ``vae.encode(video)``
returns a posterior with ``mode()`` and ``sample(generator)``, ``vae.decode(z)`` returns frames in [-1, 1], and
``vae.config.scaling_factor`` scales the latents the denoiser sees.
"""

from __future__ import annotations

import torch


class VAELatents:
    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.transformer.parameters()).dtype

    def encode_video(self, video: torch.Tensor, sample: bool = False,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Scaled latents of a video (B, 3, T, H, W) in [-1, 1]: the posterior mean, or a sample of it."""
        vae_dtype = next(self.vae.parameters()).dtype
        posterior = self.vae.encode(video.to(vae_dtype))
        latents = posterior.sample(generator) if sample else posterior.mode()
        return latents * self.vae.config.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Frames (B, 3, T, H, W) in [0, 1] of scaled latents."""
        vae_dtype = next(self.vae.parameters()).dtype
        video = self.vae.decode(latents.to(vae_dtype) / self.vae.config.scaling_factor)
        return (video.float() / 2 + 0.5).clamp(0, 1)
