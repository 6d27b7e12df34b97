"""The spectral audio autoencoder: STFT levels -> continuous Gaussian latents (principal components) -> waveform.

Why (docs/dub.md, first training run): a waveform autoencoder trained for minutes turned tones into their
neighbours and dropped every click, and its latents of a steady hum change with the hum's phase from frame to frame,
so the DiT had to settle a tone from phase-scrambled targets. Here the encoder sees the STFT magnitudes (phase
removed: a steady hum is a constant latent; a click is a broadband burst in one frame). Encoder and decoder are
linear maps of the levels log(1 + |STFT| / FLOOR) averaged over each latent frame's STFT frames: ``fit`` sets them
to the principal components of the clips' levels, whitened (each latent channel has unit variance), then the
audio-ae target fine-tunes them (MSE on levels). A conv stack trained by gradient from scratch learnt the hums'
frequencies far too slowly (600 CPU steps: 35% of peaks right; the PCA fit: all 60 held-out round trips keep their
tones). The waveform comes back by fast Griffin-Lim (Perraudin et al. 2013; deterministic: zero initial phase).
A 2048-point window keeps tones 6% apart distinct (1024 merged 494 and 523 Hz in the round trip of the true sound).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from vgen_plugins.audio.autoencoder import AutoencoderConfig, posterior_sample

FLOOR = 1e-2  # magnitudes well below this are silence (a quiet hum's peak is ~60, a click's bins ~0.1-1)
LOGVAR = -6.0  # the posterior's fixed width (whitened units): the DiT's targets are the means


def magnitudes(wave: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, 1, S) -> (B, n_fft // 2 + 1, S // hop) |STFT| (centred frames; the one past the end dropped)."""
    x = wave.float().flatten(1)
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True).abs()
    return spec[..., : x.shape[-1] // hop]


def griffin_lim(mag: torch.Tensor, n_fft: int, hop: int, length: int, iters: int = 32,
                momentum: float = 0.99) -> torch.Tensor:
    """(B, F, T) magnitudes -> (B, length) waveform: fast Griffin-Lim from zero phase (the same output every run)."""
    mag = torch.cat([mag, mag[..., -1:]], dim=-1).float()  # the centred frame past the end, as STFT has it
    window = torch.hann_window(n_fft, device=mag.device)
    spec, prev = mag.to(torch.complex64), None
    for _ in range(iters):
        wave = torch.istft(spec, n_fft, hop, window=window, length=length)
        rebuilt = torch.stft(wave, n_fft, hop, window=window, return_complex=True)
        guess = rebuilt if prev is None else rebuilt + momentum * (rebuilt - prev)
        prev = rebuilt
        spec = mag * torch.exp(1j * torch.angle(guess))
    return torch.istft(spec, n_fft, hop, window=window, length=length)


class SpectralAutoencoder(nn.Module):
    """``encode(wave (B, 1, S)) -> (mean, logvar)`` each (B, latent_dim, S / hop); ``decode(z) -> (B, 1, S)`` through
    Griffin-Lim; ``spectra`` gives the levels (predicted, true) per latent frame that training compares; ``fit``
    sets encoder and decoder from the principal components of clips' levels."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        bins = config.n_fft // 2 + 1
        self.encoder = nn.Linear(bins, config.latent_dim)
        self.decoder = nn.Linear(config.latent_dim, bins)

    @property
    def frames_per_latent(self) -> int:
        return self.config.hop // self.config.frame_hop

    def pad(self, wave: torch.Tensor) -> torch.Tensor:
        extra = (-wave.shape[-1]) % self.config.hop
        return F.pad(wave, (0, extra)) if extra else wave

    def levels(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, F, N) log(1 + |STFT| / FLOOR) averaged over each latent frame: 0 for silence, ~9 at a hum's peak."""
        c = self.config
        lv = torch.log1p(magnitudes(self.pad(wave), c.n_fft, c.frame_hop) / FLOOR)
        return F.avg_pool1d(lv, self.frames_per_latent)

    def encode(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.encoder(self.levels(wave).transpose(1, 2)).transpose(1, 2)
        return mean, torch.full_like(mean, LOGVAR)

    def decode_levels(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.transpose(1, 2)).transpose(1, 2)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        c = self.config
        lv = self.decode_levels(z.float()).clamp(0.0, 20.0).repeat_interleave(self.frames_per_latent, dim=-1)
        return griffin_lim(FLOOR * torch.expm1(lv), c.n_fft, c.frame_hop, z.shape[-1] * c.hop,
                           c.griffin_lim_iters)[:, None]

    def spectra(self, wave: torch.Tensor, sample: bool = True, generator=None):
        """(predicted, true) levels (B, F, N), mean and logvar: what the training loss compares."""
        target = self.levels(wave)
        mean = self.encoder(target.transpose(1, 2)).transpose(1, 2)
        logvar = torch.full_like(mean, LOGVAR)
        return self.decode_levels(posterior_sample(mean, logvar, sample, generator)), target, mean, logvar

    @torch.no_grad()
    def fit(self, levels: torch.Tensor) -> float:
        """Encoder and decoder from the principal components of ``levels`` (M, F), whitened; returns the share of
        the levels' variance the latents keep. Deterministic (an eigendecomposition, no random projections)."""
        x = levels.double()
        centre = x.mean(0)
        cov = (x - centre).T @ (x - centre) / max(1, len(x) - 1)
        values, vectors = torch.linalg.eigh(cov)  # ascending
        k = self.config.latent_dim
        values, vectors = values.flip(0)[:k].clamp_min(1e-12), vectors.flip(1)[:, :k]
        scale = values.sqrt()
        self.encoder.weight.copy_((vectors / scale).T)
        self.encoder.bias.copy_(-(centre @ vectors) / scale)
        self.decoder.weight.copy_(vectors * scale)
        self.decoder.bias.copy_(centre)
        return float(values.sum() / torch.diagonal(cov).sum())

    def forward(self, wave: torch.Tensor, sample: bool = True, generator=None):
        """Reconstruction (cut to the input's length), mean and logvar, as the waveform autoencoder gives them."""
        mean, logvar = self.encode(wave)
        return self.decode(posterior_sample(mean, logvar, sample, generator))[..., : wave.shape[-1]], mean, logvar
