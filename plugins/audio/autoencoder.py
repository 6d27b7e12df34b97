"""The audio autoencoder: waveform -> continuous Gaussian latents at a low frame rate -> waveform (DAC-VAE-like).

A 1D convolutional encoder (strided blocks of dilated residual units with Snake activations, as in DAC) gives a mean
and a log-variance per latent frame; the decoder mirrors it with transposed convolutions. The hop (product of the
strides) sets the latent rate: 48 kHz / 1920 = 25 Hz (MovieGen Audio's DAC-VAE), 16 kHz / 640 = 25 Hz (the shapes
world's sound).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class AutoencoderConfig:
    sample_rate: int = 16000
    strides: list[int] = field(default_factory=lambda: [4, 4, 5, 8])  # encoder order; the decoder reverses them
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128])  # after each encoder block
    latent_dim: int = 16
    dilations: list[int] = field(default_factory=lambda: [1, 3])  # residual units per block
    # "waveform": the conv stack reads samples (DAC-VAE-like); "spectral" (spectral.py): linear maps of STFT levels
    # (n_fft window, frames frame_hop samples apart, prod(strides) frames per latent; channels and dilations unused),
    # the waveform back by Griffin-Lim
    kind: str = "waveform"
    n_fft: int = 2048
    frame_hop: int = 160
    griffin_lim_iters: int = 32

    def __post_init__(self):
        if self.kind not in ("waveform", "spectral"):
            raise ValueError(f"autoencoder kind must be 'waveform' or 'spectral', got {self.kind!r}")

    @property
    def hop(self) -> int:
        """Samples per latent frame."""
        return math.prod(self.strides) * (self.frame_hop if self.kind == "spectral" else 1)

    @property
    def latent_rate(self) -> float:
        return self.sample_rate / self.hop

    def to_dict(self) -> dict:
        return asdict(self)


class Snake(nn.Module):
    """x + sin^2(a x) / a, one learned frequency a per channel: a periodic bias for periodic signals."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        return x + torch.sin(a * x).pow(2) / (a + 1e-9)


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.net = nn.Sequential(Snake(channels), nn.Conv1d(channels, channels, 7, dilation=dilation,
                                                            padding=3 * dilation),
                                 Snake(channels), nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class Encoder(nn.Module):
    def __init__(self, c: AutoencoderConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(1, c.channels[0] // 2 or 1, 7, padding=3)]
        width = c.channels[0] // 2 or 1
        for stride, out in zip(c.strides, c.channels, strict=True):
            layers += [ResidualUnit(width, d) for d in c.dilations]
            layers += [Snake(width), nn.Conv1d(width, out, 2 * stride, stride=stride, padding=math.ceil(stride / 2))]
            width = out
        layers += [Snake(width), nn.Conv1d(width, 2 * c.latent_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, c: AutoencoderConfig):
        super().__init__()
        widths = list(reversed(c.channels))
        layers: list[nn.Module] = [nn.Conv1d(c.latent_dim, widths[0], 7, padding=3)]
        width = widths[0]
        outs = widths[1:] + [widths[-1]]
        for stride, out in zip(reversed(c.strides), outs, strict=True):
            layers += [Snake(width), nn.ConvTranspose1d(width, out, 2 * stride, stride=stride,
                                                        padding=math.ceil(stride / 2), output_padding=stride % 2)]
            layers += [ResidualUnit(out, d) for d in c.dilations]
            width = out
        layers += [Snake(width), nn.Conv1d(width, 1, 7, padding=3)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class AudioAutoencoder(nn.Module):
    """``encode(wave (B, 1, S)) -> (mean, logvar)`` each (B, latent_dim, S / hop); ``decode(z) -> (B, 1, S)``."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def pad(self, wave: torch.Tensor) -> torch.Tensor:
        """Right-pad to a whole number of latent frames."""
        extra = (-wave.shape[-1]) % self.config.hop
        return F.pad(wave, (0, extra)) if extra else wave

    def encode(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stats = self.encoder(self.pad(wave))
        mean, logvar = stats.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(z))

    def forward(self, wave: torch.Tensor, sample: bool = True, generator=None):
        """Reconstruction (cut to the input's length), mean and logvar."""
        mean, logvar = self.encode(wave)
        return self.decode(posterior_sample(mean, logvar, sample, generator))[..., : wave.shape[-1]], mean, logvar


def posterior_sample(mean: torch.Tensor, logvar: torch.Tensor, sample: bool = True, generator=None) -> torch.Tensor:
    """A draw from N(mean, exp(logvar)), or the mean when not ``sample``."""
    if not sample:
        return mean
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + noise * torch.exp(0.5 * logvar)


def build_autoencoder(config: AutoencoderConfig) -> nn.Module:
    """The autoencoder of ``config.kind``: AudioAutoencoder (waveform) or spectral.SpectralAutoencoder."""
    if config.kind == "spectral":
        from vgen_plugins.audio.spectral import SpectralAutoencoder

        return SpectralAutoencoder(config)
    return AudioAutoencoder(config)
