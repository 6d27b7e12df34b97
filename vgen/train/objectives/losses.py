"""Training losses: flow matching for the DiT; L1 + KL (+ outlier penalty, + adversarial) for the VAE; the 3D
PatchGAN discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def flow_noise(gen: torch.Generator, n: int, shape, mean: float, std: float, shift: float):
    """(t (n,), noise (n, *shape)) for the n samples of a global batch, drawn on the CPU from one generator: they do
    not depend on the device, the batch split or the number of processes (each rank takes its rows). t is
    logit-normal, then shifted towards noise: shift*t / (1 + (shift-1)*t)."""
    t = torch.sigmoid(torch.randn(n, generator=gen) * std + mean)
    return shift * t / (1 + (shift - 1) * t), torch.randn((n, *shape), generator=gen)


def flow_matching_inputs(x0: torch.Tensor, ts: torch.Tensor, noise: torch.Tensor, sigma_min: float = 0.0):
    """Noisy latents, timesteps (sigma * 1000) and velocity targets for clean latents ``x0`` (B, ...), with
    (t, noise) from ``flow_noise``: x_t = t * noise + (1 - t) * x0 and the model predicts v = noise - x0.

    ``sigma_min`` > 0 is MovieGen's interpolant (its X_t = t'*X1 + (1 - (1 - sigma_min)*t')*X0 with t' = 1 - t):
    x_t = (sigma_min + (1 - sigma_min) * t) * noise + (1 - t) * x0 and v = (1 - sigma_min) * noise - x0."""
    noise = noise.to(x0.device, torch.float32)
    t = ts.to(x0.device).view(-1, *[1] * (x0.dim() - 1))
    x0 = x0.float()
    if sigma_min:
        return ((sigma_min + (1 - sigma_min) * t) * noise + (1 - t) * x0, ts.to(x0.device) * 1000.0,
                (1 - sigma_min) * noise - x0)
    return t * noise + (1 - t) * x0, ts.to(x0.device) * 1000.0, noise - x0


def per_sample_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred.float() - target.float()).pow(2).flatten(1).mean(1)


# ------------------------------------------------------------------------------------------------------- VAE


def encode_decode(vae: torch.nn.Module, x: torch.Tensor, gens: list[torch.Generator], sample: bool = True,
                  refine=None):
    """Run a VAE as an autoencoder: posterior (mean, logvar), a sample z (the mean if not ``sample``; ``refine(z)``
    if given, e.g. a DiT's SDEdit of it), and the reconstruction in [-1, 1].

    Works with the diffusers convention (``encode(x).latent_dist`` with ``mean``/``logvar``, ``decode(z).sample``)
    and with plain ones (``encode`` returning (mean, logvar) or 2C moment channels, ``decode`` a tensor).
    """
    enc = vae.encode(x)
    post = getattr(enc, "latent_dist", enc)
    if isinstance(post, (tuple, list)):
        mean, logvar = post[0], post[1]
    elif isinstance(post, torch.Tensor):
        mean, logvar = post.chunk(2, dim=1)
    else:
        mean, logvar = post.mean, post.logvar
    logvar = logvar.clamp(-30.0, 20.0)
    z = mean
    if sample:
        eps = torch.stack([torch.randn(mean.shape[1:], generator=g) for g in gens]).to(mean.device, mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * eps
    if refine is not None:
        z = refine(z).to(mean.dtype)
    dec = vae.decode(z)
    recon = getattr(dec, "sample", dec)
    if isinstance(recon, (tuple, list)):
        recon = recon[0]
    return mean, logvar, z, recon


def gradient_l1(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per sample, the mean L1 distance between the spatial finite differences (along W and H) of two videos
    (B, C, T, H, W): the gradient difference loss of Mathieu et al. (2016, video prediction). Pixel losses hardly see
    the few pixels at an edge or a corner; this one sees only them, so a decoder that rounds corners pays for it."""
    r, t = recon.float(), target.float()
    dx = (r.diff(dim=-1) - t.diff(dim=-1)).abs().flatten(1).mean(1)
    dy = (r.diff(dim=-2) - t.diff(dim=-2)).abs().flatten(1).mean(1)
    return dx + dy


def kl_per_sample(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, var) || N(0, 1)) summed over latent elements, per sample."""
    return 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float()).flatten(1).sum(1)


def outlier_penalty(z: torch.Tensor, r: float) -> torch.Tensor:
    """MovieGen's outlier penalty, per sample: how far latent values stray beyond ``r`` standard deviations of their
    channel's spatial statistics (mean over positions of max(|z - mean| - r * std, 0))."""
    z = z.float().flatten(3)  # (B, C, T, H*W)
    mean = z.mean(-1, keepdim=True)
    std = z.std(-1, keepdim=True)
    return F.relu((z - mean).abs() - r * std).flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of videos in [-1, 1] (peak-to-peak 2), per sample."""
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(4.0 / mse)


class PatchDiscriminator3D(torch.nn.Module):
    """A 3D PatchGAN: strided Conv3d + GroupNorm + LeakyReLU, one real/fake logit per spatio-temporal patch."""

    def __init__(self, channels: int = 3, width: int = 32, layers: int = 3):
        super().__init__()
        mods: list[torch.nn.Module] = [torch.nn.Conv3d(channels, width, 3, stride=(1, 2, 2), padding=1),
                                       torch.nn.LeakyReLU(0.2)]
        c = width
        for i in range(1, layers):
            nc = min(width * 2**i, 8 * width)
            mods += [torch.nn.Conv3d(c, nc, 3, stride=(2 if i > 1 else 1, 2, 2), padding=1),
                     torch.nn.GroupNorm(min(32, nc // 4), nc), torch.nn.LeakyReLU(0.2)]
            c = nc
        mods.append(torch.nn.Conv3d(c, 1, 3, padding=1))
        self.net = torch.nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Per-sample hinge loss of the discriminator."""
    return 0.5 * (F.relu(1 - real_logits).flatten(1).mean(1) + F.relu(1 + fake_logits).flatten(1).mean(1))


def generator_adv_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.float().flatten(1).mean(1)
