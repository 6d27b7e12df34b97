"""VAE training (target "vae"): reconstruction (L1 + KL, optional L2, edge and outlier terms) and, from
``adv_start``, an adversarial term against a 3D PatchGAN that takes its own step after each optimizer step.

``decode_from`` picks what the decoder reconstructs from: a posterior sample, the posterior mean, or the mean
renoised and denoised by the pipeline's own DiT (SDEdit, vgen.flow.renoise) with the clip's caption."""

from __future__ import annotations

import torch

from vgen import console
from vgen.errors import UserError
from vgen.flow import renoise
from vgen.train.data import assign_bucket, generator, load_pixels
from vgen.train.objectives import Objective
from vgen.train.objectives.losses import (
    PatchDiscriminator3D,
    encode_decode,
    generator_adv_loss,
    gradient_l1,
    hinge_d_loss,
    kl_per_sample,
    outlier_penalty,
    psnr,
)


class Autoencoder(torch.nn.Module):
    """The trainable VAE as one module: encode, sample, decode."""

    def __init__(self, vae, sample: bool = True):
        super().__init__()
        self.vae, self.sample = vae, sample

    def forward(self, x, gens, refine=None):
        return encode_decode(self.vae, x, gens, self.sample, refine)


class Adversary:
    """The discriminator: replicated on every rank, its gradients all-reduced by hand."""

    def __init__(self, s, device: torch.device, autocast, d):
        self.s, self.autocast, self.d = s, autocast, d
        self.disc = PatchDiscriminator3D().to(device)
        self.opt = torch.optim.AdamW(self.disc.parameters(), lr=s.disc_lr or s.lr, betas=(0.5, 0.9))

    def generator_loss(self, recon: torch.Tensor) -> torch.Tensor:
        with self.autocast:
            return generator_adv_loss(self.disc(recon))

    def step(self, real: torch.Tensor, fake: torch.Tensor) -> float:
        """One update on a micro-batch (hinge loss); the loss averaged over ranks."""
        self.opt.zero_grad(set_to_none=True)
        with self.autocast:
            loss = hinge_d_loss(self.disc(real), self.disc(fake)).mean()
        loss.backward()
        if self.d.active:
            for p in self.disc.parameters():
                if p.grad is not None:
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= self.d.world
        for g in self.opt.param_groups:
            g["lr"] = self.s.disc_lr or self.s.lr
        self.opt.step()
        return float(self.d.sum(loss.detach().cpu()) / self.d.world)


class Reconstruction(Objective):
    """Per sample: L1 + kl_weight * KL (+ the optional terms) between a clip and the VAE's reconstruction of it."""

    def __init__(self, s, pipe, clips: dict, heldout: list, cache, device: torch.device, autocast, d):
        if cache is not None:
            raise UserError("a VAE trains on pixels: set train.data (a manifest), not train.cache")
        if s.fit_scaling_factor and not heldout:
            raise UserError("fit_scaling_factor measures the latents of held-out clips: set holdout > 0")
        self.s, self.pipe, self.clips, self.device, self.autocast = s, pipe, clips, device, autocast
        self.trained = pipe.trainable("vae", s.vae_trainable)
        self.module = Autoencoder(self.trained, sample=s.decode_from == "sample")
        self.sigmas = None
        if s.decode_from == "denoised":  # the frozen DiT samples (eval mode) from one of these sigmas a batch
            pipe.transformer.eval()
            self.sigmas = [float(v) for v in renoise.tail(pipe, s.denoise_sigma_max)]  # ends with 0: the mean
        self.adversary = Adversary(s, device, autocast, d) if s.adv_weight > 0 else None
        self._adv_on, self._last = False, None

    def compiled(self) -> list[torch.nn.Module]:
        """The VAE's parts (encoder, decoder ...): the loss calls its encode/decode methods, not its forward."""
        return [m for m in self.trained.children() if any(True for _ in m.parameters())]

    def fill(self, batch: dict, loaded: list, x: torch.Tensor, rows: range) -> None:
        batch["pixels"] = x
        if self.sigmas is not None:  # the DiT denoises with each clip's own caption
            batch["prompts"] = [self.clips[cid].caption for cid, _ in loaded]

    def loss(self, model: torch.nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        s, x = self.s, batch["pixels"]
        gens = [generator("noise", s.seed, *key) for key in batch["keys"]]
        refine = self._refine(batch) if self.sigmas is not None else None
        with self.autocast:
            mean, logvar, z, recon = model(x, gens, refine)
        rec = (recon.float() - x.float()).abs().flatten(1).mean(1)
        kl = kl_per_sample(mean, logvar)
        per = rec + s.kl_weight * kl
        logs = {"l1": rec.mean().item(), "kl": kl.mean().item()}
        terms = (("mse", s.mse_weight, lambda: (recon.float() - x.float()).pow(2).flatten(1).mean(1)),
                 ("grad", s.gradient_weight, lambda: gradient_l1(recon, x)),
                 ("outlier", s.outlier_weight, lambda: outlier_penalty(mean, s.outlier_r)))
        for name, weight, term in terms:
            if weight > 0:
                value = term()
                per = per + weight * value
                logs[name] = value.mean().item()
        self._adv_on = self.adversary is not None and step >= s.adv_start
        if self._adv_on:
            g_adv = self.adversary.generator_loss(recon)
            per = per + s.adv_weight * g_adv
            logs["g_adv"] = g_adv.mean().item()
            self._last = (x.detach(), recon.detach())
        return per, logs

    def _refine(self, batch: dict):
        """The posterior means -> the DiT's SDEdit of them from one sigma for the batch (drawn from the schedule's
        sigmas up to denoise_sigma_max, and 0), noise from each sample's generator."""
        choices, seed = self.sigmas, self.s.seed
        stage_i, pos = batch["keys"][0][:2]
        sigma = choices[int(torch.randint(len(choices), (1,), generator=generator("sigma", seed, stage_i, pos)))]
        config = self.pipe.vae.config
        scale, shift = config.scaling_factor, getattr(config, "shift_factor", None) or 0.0
        gens = [generator("denoise", seed, *key) for key in batch["keys"]]

        def refine(mean):
            if sigma == 0:
                return mean
            noise = torch.stack([torch.randn(mean.shape[1:], generator=g) for g in gens])
            z = renoise.denoise_from(self.pipe, (mean.float() - shift) * scale, batch["prompts"], sigma, noise)
            return z / scale + shift

        return refine

    def after_step(self, step: int) -> dict:
        return {"d_loss": self.adversary.step(*self._last)} if self._adv_on else {}

    # -- state, evaluation, outputs ------------------------------------------------------------------------------

    def states(self) -> dict[str, dict]:
        if self.adversary is None:
            return {}
        return {"disc": self.adversary.disc.state_dict(), "disc_optim": self.adversary.opt.state_dict()}

    def prefill(self) -> None:
        if self.adversary is not None:
            from vgen.train.checkpoints import prefill_optimizer

            prefill_optimizer(self.adversary.opt)

    def load_states(self, states: dict[str, dict]) -> None:
        if self.adversary is not None:
            self.adversary.disc.load_state_dict(states["disc"])
            self.adversary.opt.load_state_dict(states["disc_optim"])

    def evaluate(self, clips: list, buckets: list, bad) -> dict:
        """PSNR of reconstructions of ``clips`` (each at its bucket)."""
        values = []
        self.module.eval()
        with torch.no_grad(), self.autocast:
            for clip in clips:
                b = assign_bucket(clip, buckets)
                if b is None:
                    continue
                try:
                    x = load_pixels(clip, buckets[b])[None].to(self.device)
                except UserError as exc:
                    bad.add(clip.index, str(exc))
                    continue
                _, _, _, recon = self.module(x, [generator("eval", self.s.seed, clip.index)])
                values.append(float(psnr(recon.clamp(-1, 1), x)[0]))
        self.module.train()
        return {"psnr": sum(values) / len(values)} if values else {}

    def holder(self, pipe) -> torch.nn.Module:
        return Autoencoder(pipe.vae)

    def finalize(self, pipe, heldout: list, buckets: list, bad, result: dict) -> None:
        if self.s.fit_scaling_factor:  # on the full weights (FSDP: the CPU copy)
            pipe.vae.config.scaling_factor = result["scaling_factor"] = fit_scaling_factor(
                pipe.vae, heldout, buckets, bad.ids)


def fit_scaling_factor(vae: torch.nn.Module, heldout: list, buckets: list, skip: set[int]) -> float:
    """1 / std of the posterior means of the held-out clips: latents of unit variance for the DiT (a new VAE's
    latents can sit far from it; at std 0.3 the DiT sees mostly noise at every t it trains on)."""
    sums, count = torch.zeros(2, dtype=torch.float64), 0
    device = next(vae.parameters()).device
    was_training = vae.training
    vae.eval()
    with torch.no_grad():
        for clip in heldout:
            b = assign_bucket(clip, buckets)
            if b is None or clip.index in skip:
                continue
            z = vae.encode(load_pixels(clip, buckets[b])[None].to(device)).mode().double().cpu()
            sums += torch.stack([z.sum(), z.pow(2).sum()])
            count += z.numel()
    vae.train(was_training)
    if not count:  # every held-out clip unreadable: keep the factor rather than lose the run
        console.warn("fit_scaling_factor: no readable held-out clip; scaling_factor left as it is")
        return float(vae.config.scaling_factor)
    mean = sums[0] / count
    return float(1.0 / (sums[1] / count - mean**2).sqrt())
