"""The audio DiT (MovieGen Audio): a flow-matching transformer over audio latent frames.

Each latent frame is one token. Its input is the noisy latent, the context latent (a span given as is: infilling and
continuation) and the context mask, projected to the model width; the video features of the frame at that time
(resampled to the latent rate) are projected and added; the text prompt enters through cross-attention; the noise
level through adaLN (one shared modulation, per-block learned offsets). The output is the flow velocity.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vgen.nn.layers import timestep_embedding


@dataclass
class DiTConfig:
    latent_dim: int = 16
    feature_dim: int = 768  # per-frame video feature size (the extractor's ``dim``)
    feature_layers: int = 1  # 1: a linear projection of the features; 2: an MLP (colour anywhere in a thumbnail)
    width: int = 160
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 3.0
    vocab: int = 1024  # hashed word buckets of the prompt (0 = padding)
    max_words: int = 32
    max_frames: int = 512  # longest window in latent frames (sinusoidal positions beyond are fine, just unseen)

    def to_dict(self) -> dict:
        return asdict(self)


def tokenize(prompts: list[str], vocab: int, max_words: int) -> torch.Tensor:
    """(B, max_words) int64 word ids: each lower-cased word hashed (crc32) into 1..vocab-1; 0 pads. Stable across
    processes and machines (no tokenizer files to ship)."""
    out = torch.zeros(len(prompts), max_words, dtype=torch.long)
    for i, text in enumerate(prompts):
        words = text.lower().replace(",", " ").split()[:max_words]
        for j, w in enumerate(words):
            out[i, j] = 1 + zlib.crc32(w.encode()) % (vocab - 1)
    return out


def positions(n: int, dim: int, device) -> torch.Tensor:
    return timestep_embedding(torch.arange(n, device=device, dtype=torch.float32), dim, max_period=1000.0)


class Block(nn.Module):
    def __init__(self, c: DiTConfig):
        super().__init__()
        d = c.width
        self.heads = c.heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.cross_out = nn.Linear(d, d)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False)
        hidden = int(d * c.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d))
        self.offset = nn.Parameter(torch.zeros(6, d))  # this block's share of the shared adaLN modulation

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x, mod, text, text_mask):
        shift1, scale1, gate1, shift2, scale2, gate2 = (mod + self.offset[None, :, None, :]).unbind(1)
        h = self.norm1(x) * (1 + scale1) + shift1
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        a = F.scaled_dot_product_attention(self._heads(q), self._heads(k), self._heads(v))
        x = x + gate1 * self.proj(a.transpose(1, 2).flatten(2))
        k, v = self.kv(text).chunk(2, dim=-1)
        a = F.scaled_dot_product_attention(self._heads(self.q(self.norm2(x))), self._heads(k), self._heads(v),
                                           attn_mask=text_mask[:, None, None, :])
        x = x + self.cross_out(a.transpose(1, 2).flatten(2))
        h = self.norm3(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


class AudioDiT(nn.Module):
    """``forward(x, sigma, context, mask, features, words) -> velocity``; x, context (B, N, latent_dim), mask (B, N, 1)
    (1 where the context is given), features (B, N, feature_dim) at the latent rate, words (B, W) from ``tokenize``
    (all-padding rows are the unconditional prompt), sigma (B,) in [0, 1]."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        d = config.width
        self.inp = nn.Linear(2 * config.latent_dim + 1, d)
        self.features = (nn.Linear(config.feature_dim, d) if config.feature_layers == 1 else
                         nn.Sequential(nn.Linear(config.feature_dim, d), nn.GELU(approximate="tanh"), nn.Linear(d, d)))
        self.null_features = nn.Parameter(torch.zeros(d))  # the unconditional "no video" input
        self.words = nn.Embedding(config.vocab, d)
        self.null_text = nn.Parameter(torch.zeros(1, 1, d))  # always attended: a prompt-less row attends to it
        self.time = nn.Sequential(nn.Linear(256, d), nn.SiLU())
        self.time_mod = nn.Linear(d, 6 * d)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.out_mod = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, config.latent_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        for layer in (self.time_mod, self.out_mod):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x, sigma, context, mask, features, words, video: torch.Tensor | None = None):
        """``video``: (B,) 1 where the video features are used, 0 for the unconditional input (CFG)."""
        b, n, _ = x.shape
        d = self.config.width
        h = self.inp(torch.cat([x, context * mask, mask], dim=-1))
        f = self.features(features)
        if video is not None:
            keep = video.to(f.dtype)[:, None, None]
            f = f * keep + self.null_features * (1 - keep)
        h = h + f + positions(n, d, x.device).to(h.dtype)
        t = self.time(timestep_embedding(sigma * 1000.0, 256).to(h.dtype))
        mod = self.time_mod(t).view(b, 6, 1, d)
        text = torch.cat([self.null_text.expand(b, 1, d), self.words(words)], dim=1)
        text = text + positions(text.shape[1], d, x.device).to(text.dtype)
        text_mask = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=x.device), words > 0], dim=1)
        for block in self.blocks:
            h = block(h, mod, text, text_mask)
        shift, scale = self.out_mod(t).chunk(2, dim=-1)
        h = self.norm(h) * (1 + scale[:, None]) + shift[:, None]
        return self.out(h)
