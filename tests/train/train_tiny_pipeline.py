"""A tiny but real VideoPipeline for the train tests: conv VAE (4x time, 4x space), byte-level text encoder and a
2-block DiT over [video; text] tokens. Small real modules, so losses, gradients and checkpoints are real."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vgen.io.checkpoint import load_into, save_checkpoint
from vgen.pipeline import PipelineBase

CONFIG = {"channels": 4, "width": 32, "heads": 2, "layers": 2, "text_len": 16}


class TinyVAE(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.enc = nn.ModuleList([nn.Conv3d(3, 8, 3, padding=1), nn.Conv3d(8, 2 * channels, (1, 4, 4), (1, 4, 4))])
        self.dec = nn.ModuleList([nn.ConvTranspose3d(channels, 8, (1, 4, 4), (1, 4, 4)), nn.Conv3d(8, 3, 3, padding=1)])

    def encode(self, x):
        h = F.silu(self.enc[0](x[:, :, ::4]))  # latent frames = (T - 1) // 4 + 1
        return self.enc[1](h).chunk(2, dim=1)  # (mean, logvar)

    def decode(self, z):
        y = torch.tanh(self.dec[1](F.silu(self.dec[0](z))))
        return torch.cat([y[:, :, :1], y[:, :, 1:].repeat_interleave(4, dim=2)], dim=2)


class TinyTextEncoder(nn.Module):
    def __init__(self, width: int, length: int):
        super().__init__()
        self.length = length
        self.embed = nn.Embedding(257, width)
        self.proj = nn.Linear(width, width)

    def forward(self, prompts: list[str]):
        ids = torch.zeros(len(prompts), self.length, dtype=torch.long)
        mask = torch.zeros(len(prompts), self.length)
        for i, p in enumerate(prompts):
            data = list(p.encode()[: self.length - 1]) + [256]  # an end token, so "" has one valid token
            ids[i, : len(data)] = torch.tensor(data)
            mask[i, : len(data)] = 1
        ids = ids.to(self.embed.weight.device)
        return self.proj(self.embed(ids)), mask.to(ids.device)


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.qkv = nn.Linear(width, 3 * width)
        self.to_out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.mod = nn.Linear(width, 4 * width)

    def forward(self, x, cond, mask):
        shift1, scale1, shift2, scale2 = self.mod(F.silu(cond))[:, None].chunk(4, dim=-1)
        b, n, w = x.shape
        q, k, v = self.qkv(self.norm1(x) * (1 + scale1) + shift1).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :].bool())
        x = x + self.to_out(attn.transpose(1, 2).reshape(b, n, w))
        return x + self.mlp(self.norm2(x) * (1 + scale2) + shift2)


class TinyDiT(nn.Module):
    def __init__(self, channels: int, width: int, heads: int, layers: int, patch: int = 2):
        super().__init__()
        self.patch, self.width = patch, width
        self.x_embedder = nn.Linear(channels * patch * patch, width)
        self.time_embed = nn.Sequential(nn.Linear(64, width), nn.SiLU(), nn.Linear(width, width))
        self.pos = nn.Parameter(torch.zeros(1, 64, width))
        self.transformer_blocks = nn.ModuleList([Block(width, heads) for _ in range(layers)])
        self.norm_out = nn.LayerNorm(width)
        self.proj_out = nn.Linear(width, channels * patch * patch)

    def forward(self, latents, timestep, text, text_mask):
        b, c, t, h, w = latents.shape
        p = self.patch
        x = latents.view(b, c, t, h // p, p, w // p, p).permute(0, 2, 3, 5, 1, 4, 6).reshape(b, -1, c * p * p)
        n = x.shape[1]
        x = self.x_embedder(x) + self.pos[:, :n]
        freqs = torch.exp(-math.log(1e4) * torch.arange(32, device=x.device) / 32)
        args = timestep[:, None].float() * freqs[None]
        cond = self.time_embed(torch.cat([args.cos(), args.sin()], dim=-1))
        cond = cond + (text * text_mask[..., None]).sum(1) / text_mask.sum(1, keepdim=True)
        x = torch.cat([x, text], dim=1)
        mask = torch.cat([torch.ones(b, n, device=x.device), text_mask], dim=1)
        for block in self.transformer_blocks:
            x = block(x, cond, mask)
        x = self.proj_out(self.norm_out(x[:, :n]))
        return x.view(b, t, h // p, w // p, c, p, p).permute(0, 4, 1, 2, 5, 3, 6).reshape(b, c, t, h, w)


class TinyPipeline(PipelineBase):
    name = "tiny-train"
    temporal_compression = 4
    spatial_compression = 4
    defaults = {"steps": 2, "shift": 1.0, "guidance": 1.0, "frames": 5, "height": 16, "width": 16, "fps": 8}

    def __init__(self, config: dict, device="cpu", dtype=torch.float32):
        self.config = dict(config)
        c = self.config
        self.latent_channels = c["channels"]
        self.size_multiple = self.spatial_compression * 2
        self.vae = TinyVAE(c["channels"]).to(device, dtype)
        self.text_encoder = TinyTextEncoder(c["width"], c["text_len"]).to(device, dtype)
        self.transformer = TinyDiT(c["channels"], c["width"], c["heads"], c["layers"]).to(device, dtype)
        self._files: list[Path] = []

    def encode_prompt(self, prompts, device=None, dtype=None):
        hidden, mask = self.text_encoder(prompts)
        return {"hidden": hidden.to(device=device, dtype=dtype), "mask": mask.to(device=device)}

    def denoise(self, latents, timestep, text, guidance=None):
        return self.transformer(latents, timestep, text["hidden"], text["mask"])

    def encode_video(self, video, sample=False, generator=None):
        mean, logvar = self.vae.encode(video)
        if sample:
            mean = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator).to(mean)
        return mean

    def decode(self, latents):
        return (self.vae.decode(latents) + 1) / 2

    def to(self, device=None, dtype=None):
        for m in (self.vae, self.text_encoder, self.transformer):
            m.to(device=device, dtype=dtype)
        return self

    def save(self, folder):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model_index.json").write_text(json.dumps({"_class_name": "TinyPipeline", **self.config}))
        for sub in ("vae", "text_encoder", "transformer"):
            save_checkpoint(folder / sub, getattr(self, sub).state_dict(), config=self.config)
        return folder

    def weight_files(self):
        return self._files


def factory(weights=None, config=None, device="cpu", dtype=torch.float32, **options):
    if weights is not None:
        cfg = json.loads((Path(weights) / "model_index.json").read_text())
        cfg.pop("_class_name")
        pipe = TinyPipeline(cfg, device, dtype)
        for sub in ("vae", "text_encoder", "transformer"):
            load_into(getattr(pipe, sub), Path(weights) / sub)
        return pipe
    cfg = dict(CONFIG)
    if isinstance(config, dict):
        cfg.update(config)
    return TinyPipeline(cfg, device, dtype)
