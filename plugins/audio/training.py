"""The dub model's training targets for ``vgen train run`` (``register_training_targets``; recipes/dub/).

- ``audio-ae``: the autoencoder reconstructs random crops of the clips' sound: a waveform one by multi-resolution
  STFT + waveform L1 + KL; a spectral one (spectral.py) starts from the principal components of the clips' STFT
  levels and is fine-tuned on their MSE. At the end the latents' mean and std are measured, so the DiT sees
  unit-scale latents.
- ``audio-dit``: the DiT (autoencoder frozen, from ``weights`` = the audio-ae run's folder) learns the flow velocity
  of windows of the clips' latents, given the video features and caption, as masked infilling: often a prefix, a
  span or a suffix is given as context and only the rest is scored, so the same model continues a soundtrack.

Batch size: the first stage's ``max_batch``; steps: the stages' sum; ``caption_dropout`` drops the prompt and a tenth
of the batches drop the video too (the unconditional input of CFG).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from vgen_plugins.audio.data import load_clips
from vgen_plugins.audio.dit import tokenize
from vgen_plugins.audio.model import DubModel

from vgen import console
from vgen.errors import UserError

AE_CROP_SECONDS = 1.0
FIT_CLIPS = 2000
VIDEO_DROPOUT = 0.1


def _model(s, device) -> DubModel:
    if s.weights is not None:
        return DubModel.load(s.weights, device)
    return DubModel.build(config=s.config, device=device)


def stft_loss(pred: torch.Tensor, target: torch.Tensor, sizes=(2048, 512, 128)) -> torch.Tensor:
    """Per-sample multi-resolution STFT loss: L1 of log magnitudes + spectral convergence, averaged over sizes."""
    pred, target = pred.float().flatten(1), target.float().flatten(1)
    total = 0.0
    for n in sizes:
        window = torch.hann_window(n, device=pred.device)
        mags = [torch.stft(x, n, n // 4, window=window, return_complex=True).abs().clamp_min(1e-5)
                for x in (pred, target)]
        log = (mags[0].log() - mags[1].log()).abs().mean(dim=(1, 2))
        conv = (mags[0] - mags[1]).flatten(1).norm(dim=1) / mags[1].flatten(1).norm(dim=1).clamp_min(1e-5)
        total = total + log + conv
    return total / len(sizes)


class AutoencoderTarget:
    def __init__(self, s, device):
        self.s, self.device = s, device
        self.model = _model(s, device)
        self.module = self.model.autoencoder
        self.model.dit.requires_grad_(False)
        if s.data is None:
            raise UserError("audio-ae needs clips with sound: data = a manifest from `vgen datasets shapes --audio`")
        self.clips = [c["audio"] for c in load_clips(s.data, self.model.sample_rate, frames=False)]
        self.crop = int(AE_CROP_SECONDS * self.model.sample_rate)
        if self.model.autoencoder.config.kind == "spectral" and s.weights is None:
            self.fit()

    @torch.no_grad()
    def fit(self) -> None:
        """The spectral autoencoder starts from the principal components of (up to) FIT_CLIPS clips' levels."""
        ae = self.model.autoencoder
        levels = [ae.levels(torch.from_numpy(w)[None, None].to(self.device))[0].T for w in self.clips[:FIT_CLIPS]]
        kept = ae.fit(torch.cat(levels).float())
        console.info(f"audio-ae: principal components of {min(len(self.clips), FIT_CLIPS)} clips' levels keep "
                     f"{kept:.1%} of their variance")

    def batches(self):
        rng = np.random.default_rng(self.s.seed)
        size = self.s.stages[0].max_batch
        while True:
            out = np.zeros((size, 1, self.crop), dtype=np.float32)
            for i, j in enumerate(rng.integers(len(self.clips), size=size)):
                wave = self.clips[j]
                start = int(rng.integers(max(1, len(wave) - self.crop + 1)))
                part = wave[start:start + self.crop]
                out[i, 0, : len(part)] = part
            yield {"wave": torch.from_numpy(out).to(self.device)}

    def loss(self, batch, step):
        wave = batch["wave"]
        if self.model.autoencoder.config.kind == "spectral":
            # MSE of levels (log magnitudes): a click's broadband frames count as a hum's bins do (a waveform L1
            # cannot predict a click's random samples and learns silence instead); PCA's own measure, so fine-tuning
            # starts at its optimum for linear maps
            pred, target, mean, logvar = self.module.spectra(wave)
            rec = ((pred.float() - target) ** 2).mean(dim=(1, 2))
            logs = {"level_mse": rec.mean().detach()}
        else:
            recon, mean, logvar = self.module(wave)
            l1 = (recon.float() - wave).abs().mean(dim=(1, 2))
            spec = stft_loss(recon, wave)
            rec = spec + l1
            logs = {"stft": spec.mean().detach(), "l1": l1.mean().detach()}
        kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).mean(dim=(1, 2))
        return rec + self.s.kl_weight * kl, {**logs, "kl": kl.mean().detach()}

    @torch.no_grad()
    def save(self, out: Path) -> Path:
        """The model folder, with the latents' mean and std measured on (up to) 256 clips."""
        self.module.eval()
        means = []
        for wave in self.clips[:256]:
            mean, _ = self.module.encode(torch.from_numpy(wave)[None, None].to(self.device))
            means.append(mean.float().flatten())
        flat = torch.cat(means)
        self.model.config["latent_mean"] = round(float(flat.mean()), 6)
        self.model.config["latent_std"] = round(float(flat.std()), 6) or 1.0
        self.module.train()
        return self.model.save(out, dtype=torch.bfloat16)


class DiTTarget:
    def __init__(self, s, device):
        if s.weights is None:
            raise UserError("audio-dit trains beside a trained autoencoder: weights = the audio-ae run's final folder")
        if s.data is None:
            raise UserError("audio-dit needs clips with sound: data = a manifest from `vgen datasets shapes --audio`")
        self.s, self.device = s, device
        self.model = DubModel.load(s.weights, device)
        self.model.autoencoder.requires_grad_(False)
        self.module = self.model.dit
        self.window = max(2, int(round(self.model.config["window_seconds"] * self.model.latent_rate)))
        self.latents, self.features, self.words = self._prepare(load_clips(s.data, self.model.sample_rate))

    @torch.no_grad()
    def _prepare(self, clips):
        """Latents (encoded in batches of clips of one length), features and word ids of every clip."""
        hop, c = self.model.autoencoder.config.hop, self.model.dit.config
        clips = [clip for clip in clips if len(clip["audio"]) // hop >= 2]
        if not clips:
            raise UserError("audio-dit: no clip is long enough for two latent frames")
        by_length: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            by_length.setdefault(len(clip["audio"]) // hop, []).append(i)
        latents: list = [None] * len(clips)
        for n, idx in by_length.items():
            for k in range(0, len(idx), 256):
                part = idx[k:k + 256]
                wave = torch.from_numpy(np.stack([clips[i]["audio"][: n * hop] for i in part]))[:, None]
                for i, z in zip(part, self.model.encode(wave.to(self.device)).float(), strict=True):
                    latents[i] = z
        features = [self.model.video_features(clip["frames"], clip["fps"], len(z)).to(self.device)
                    for clip, z in zip(clips, latents, strict=True)]
        words = tokenize([clip["caption"] for clip in clips], c.vocab, c.max_words).to(self.device)
        self.window = min(self.window, min(len(z) for z in latents))
        return latents, features, list(words)

    def _mask(self, rng, n: int) -> torch.Tensor:
        """1 on the context frames: none, a prefix (continuation), a span (infilling) or a suffix."""
        mask = torch.zeros(n, 1)
        kind = rng.random()
        if kind < 0.4:
            return mask
        length = int(rng.integers(1, max(2, n // 2 + 1)))
        start = 0 if kind < 0.75 else (n - length if kind > 0.9 else int(rng.integers(0, n - length + 1)))
        mask[start:start + length] = 1
        return mask

    def batches(self):
        rng = np.random.default_rng(self.s.seed)
        size, w = self.s.stages[0].max_batch, self.window
        while True:
            z, f, words, masks = [], [], [], []
            for j in rng.integers(len(self.latents), size=size):
                start = int(rng.integers(0, len(self.latents[j]) - w + 1))
                z.append(self.latents[j][start:start + w])
                f.append(self.features[j][start:start + w])
                drop = rng.random() < self.s.caption_dropout
                words.append(torch.zeros_like(self.words[j]) if drop else self.words[j])
                masks.append(self._mask(rng, w))
            video = torch.from_numpy((rng.random(size) >= VIDEO_DROPOUT).astype(np.float32))
            noise = torch.from_numpy(rng.standard_normal((size, w, z[0].shape[-1])).astype(np.float32))
            t = 1 / (1 + np.exp(-(self.s.logit_mean + self.s.logit_std * rng.standard_normal(size))))
            t = self.s.shift * t / (1 + (self.s.shift - 1) * t)
            yield {"z": torch.stack(z), "features": torch.stack(f), "words": torch.stack(words),
                   "mask": torch.stack(masks).to(self.device), "video": video.to(self.device),
                   "noise": noise.to(self.device), "sigma": torch.from_numpy(t.astype(np.float32)).to(self.device)}

    def loss(self, batch, step):
        z, eps, mask, sigma = batch["z"], batch["noise"], batch["mask"], batch["sigma"]
        x = ((1 - sigma[:, None, None]) * z + sigma[:, None, None] * eps) * (1 - mask)
        pred = self.module(x, sigma, z, mask, batch["features"], batch["words"], video=batch["video"])
        err = ((pred.float() - (eps - z)) ** 2).mean(dim=-1, keepdim=True) * (1 - mask)
        per = err.sum(dim=(1, 2)) / (1 - mask).sum(dim=(1, 2)).clamp_min(1)
        return per, {}

    def save(self, out: Path) -> Path:
        return self.model.save(out, dtype=torch.bfloat16)


TARGETS = {"audio-ae": AutoencoderTarget, "audio-dit": DiTTarget}
