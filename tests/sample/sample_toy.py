"""A small but real VideoPipeline for the sampler tests: byte-level text embedding, a conv denoiser, and a VAE
that pools 4x in time (causal: the first frame alone) and 4x in space through 1x1x1 convs."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from vgen.pipeline import TextEmbeds


class ToyText(nn.Module):
    max_tokens = 16

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(256, 8)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.emb(ids)


class ToyVAE(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.enc = nn.Conv3d(3, channels, 1)
        self.dec = nn.Conv3d(channels, 3, 1)
        self.use_tiling = False

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = video.shape
        rest = video[:, :, 1:].reshape(b, c, (t - 1) // 4, 4, h, w).mean(3)
        x = torch.cat([video[:, :, :1], rest], dim=2)
        x = nn.functional.avg_pool3d(x, (1, 4, 4))
        return self.enc(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dec(z)
        x = torch.cat([x[:, :, :1], x[:, :, 1:].repeat_interleave(4, dim=2)], dim=2)
        x = nn.functional.interpolate(x, scale_factor=(1, 4, 4), mode="nearest")
        return torch.sigmoid(2 * x)


class ToyDenoiser(nn.Module):
    def __init__(self, channels=4, width=16):
        super().__init__()
        self.conv_in = nn.Conv3d(channels, width, 3, padding=1)
        self.time = nn.Linear(32, width)
        self.text = nn.Linear(8, width)
        self.guide = nn.Linear(1, width)
        self.conv_out = nn.Conv3d(width, channels, 3, padding=1)

    def forward(self, x, timestep, states, mask, guidance=None):
        # smooth in sigma (a trained model is; random high frequencies would make every solver look first order)
        freqs = torch.exp(math.log(4.0) * torch.arange(16, device=x.device) / 16)
        arg = timestep.float()[:, None] / 1000 * freqs[None]
        t = self.time(torch.cat([arg.cos(), arg.sin()], dim=1).to(x.dtype))
        pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        cond = t + self.text(pooled)
        if guidance is not None:
            cond = cond + self.guide(guidance.to(x.dtype)[:, None] / 10)
        h = torch.tanh(self.conv_in(x) + cond[:, :, None, None, None])
        return self.conv_out(h)


class ToyPipeline:
    name = "toy"
    latent_channels = 4
    temporal_compression = 4
    spatial_compression = 4
    size_multiple = 8
    max_prompt_tokens = ToyText.max_tokens
    defaults = dict(steps=3, shift=3.0, frames=5, height=16, width=16, fps=8, schedule="shifted",
                    sampler="flow-euler", guidance=1.0)

    def __init__(self, weights=None):
        self.text_encoder = ToyText()
        self.transformer = ToyDenoiser()
        self.vae = ToyVAE()
        self._files: list[Path] = []
        if weights is not None:
            from safetensors.torch import load_file

            path = Path(weights) / "model.safetensors"
            state = load_file(str(path))
            for prefix, module in self._modules().items():
                module.load_state_dict({k[len(prefix) + 1:]: v for k, v in state.items()
                                        if k.startswith(prefix + ".")})
            self._files = [path]
        self.calls = []  # what denoise saw, for the tests

    def _modules(self):
        return {"text_encoder": self.text_encoder, "transformer": self.transformer, "vae": self.vae}

    def count_prompt_tokens(self, prompt: str) -> int:
        return len(prompt.encode())

    def encode_prompt(self, prompts, device=None, dtype=None) -> TextEmbeds:
        n = self.max_prompt_tokens
        ids = torch.zeros(len(prompts), n, dtype=torch.long)
        mask = torch.zeros(len(prompts), n)
        for i, p in enumerate(prompts):
            b = list(p.encode())[:n]
            ids[i, :len(b)] = torch.tensor(b, dtype=torch.long)
            mask[i, :len(b)] = 1
        ids, mask = ids.to(device), mask.to(device)
        return {"states": self.text_encoder(ids).to(dtype), "mask": mask.to(dtype)}

    def denoise(self, latents, timestep, text, guidance=None):
        self.calls.append((latents.shape[0], None if guidance is None else guidance.tolist()))
        return self.transformer(latents, timestep, text["states"], text["mask"], guidance)

    def encode_video(self, video, sample=False, generator=None):
        return self.vae.encode(video)

    def decode(self, latents):
        return self.vae.decode(latents)

    def to(self, device=None, dtype=None):
        for m in self._modules().values():
            m.to(device=device, dtype=dtype)
        return self

    def save(self, folder):
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {f"{p}.{k}": v.contiguous() for p, m in self._modules().items() for k, v in m.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
        return folder

    def weight_files(self):
        return list(self._files)


def factory(weights=None, config=None, device="cpu", dtype=torch.float32, **options):
    return ToyPipeline(weights).to(device, dtype)
