"""MovieGen's diffusion transformer (arXiv 2410.13720, section 3.1.4): LLaMa-3 blocks with cross-attention and adaLN.

Data flow of ``forward`` (B batch, L video tokens, width = heads * head_dim):

    latents (B, C, T, H, W) --Conv3d patch (1, 2, 2)--> video tokens (B, L, width)
    factorized positions: table_t[t] + table_h[h] + table_w[w] (B-independent, (L, width)), added at every block input
    text: each encoder's states --Linear + LayerNorm--> width, concatenated along the sequence (UL2, ByT5, MetaCLIP)
    timestep --sinusoid, MLP--> vector --adaLN-single (PixArt-style: one shared Linear, a learnt table per block)-->
        shift / scale / gate of self-attention and of the feed-forward
    blocks: x += gate * SelfAttn(mod(RMSNorm(x))); x += CrossAttn(RMSNorm(x), text); x += gate * SwiGLU(mod(RMSNorm(x)))
    final RMSNorm + adaLN + Linear --unpatchify--> velocity (B, C, T, H, W)

Self-attention is full and bidirectional over the video tokens (no RoPE: the learnt tables give positions). The
position tables grow with the video: a grid larger than a table uses the table linearly interpolated to the size
(``resize_positions`` stores the larger tables for training at the new size).

The shared adaLN keeps the 48-layer, 6144-wide model near the paper's 30B (per-block adaLN Linears would add 11B);
``num_parameters`` of the ``30b`` config is printed by benchmarks/moviegen_dit.py.

Sequence parallelism: ``sequence_split`` tells vgen.distributed.ulysses where the video tokens are (the patch
embedding shards them, the output projection gathers them) and that each block takes its position rows as
argument 1; cross-attention is per query token, so each rank attends from its own tokens to the whole (replicated)
text without any collective (it calls ``local_attention``, which the Ulysses override does not take).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from vgen.errors import UserError
from vgen.nn.attention import attention, get_attention_backend, local_attention
from vgen.nn.layers import MLPEmbedder, modulate, timestep_embedding

TEXT_ENCODERS = ("ul2", "byt5", "metaclip")  # the order of the concatenated text sequence


@dataclass
class MovieGenTransformerConfig:
    """The DiT's shape; defaults are the paper's 30B model."""

    in_channels: int = 16  # TAE latent channels
    out_channels: int = 16
    hidden_size: int = 6144
    num_layers: int = 48
    num_attention_heads: int = 48
    ffn_dim: int = 16384  # SwiGLU hidden size
    patch_size: tuple[int, int, int] = (1, 2, 2)  # (t, h, w)
    max_positions: tuple[int, int, int] = (32, 48, 48)  # table sizes (t, h, w): 256 frames at 768 px
    # each text encoder's width (0: not used); projected by Linear + LayerNorm to hidden_size
    text_dims: dict[str, int] = field(default_factory=lambda: {"ul2": 4096, "byt5": 1472, "metaclip": 1280})
    norm_eps: float = 1e-5

    def __post_init__(self):
        self.patch_size = tuple(self.patch_size)
        self.max_positions = tuple(self.max_positions)
        if self.hidden_size % self.num_attention_heads:
            raise UserError(f"hidden_size {self.hidden_size} is not divisible by {self.num_attention_heads} heads")
        unknown = set(self.text_dims) - set(TEXT_ENCODERS)
        if unknown:
            raise UserError(f"text_dims: unknown encoder {sorted(unknown)[0]!r}; known: {', '.join(TEXT_ENCODERS)}")

    @classmethod
    def from_dict(cls, data: dict) -> MovieGenTransformerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(k for k in data if k not in known and not k.startswith("_"))
        if unknown:
            raise UserError(f"unknown MovieGen transformer config keys: {', '.join(unknown)}")
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        data = asdict(self)
        data["patch_size"], data["max_positions"] = list(self.patch_size), list(self.max_positions)
        return {"_class_name": "MovieGenTransformer", **data}


class PatchEmbed(nn.Module):
    """(B, C, T, H, W) -> (B, T'*H'*W', width) with one strided Conv3d."""

    def __init__(self, patch: tuple[int, int, int], in_channels: int, width: int):
        super().__init__()
        self.proj = nn.Conv3d(in_channels, width, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Positions(nn.Module):
    """Factorized learnable position embeddings: one table per axis, summed over the (t, h, w) grid."""

    def __init__(self, sizes: tuple[int, int, int], width: int):
        super().__init__()
        self.t, self.h, self.w = (nn.Parameter(torch.randn(n, width) * 0.02) for n in sizes)

    @staticmethod
    def _fit(table: torch.Tensor, n: int) -> torch.Tensor:
        if n <= table.shape[0]:
            return table[:n]
        return F.interpolate(table.T[None], size=n, mode="linear", align_corners=True)[0].T

    def forward(self, grid: tuple[int, int, int]) -> torch.Tensor:
        t, h, w = (self._fit(table, n) for table, n in zip((self.t, self.h, self.w), grid, strict=True))
        return (t[:, None, None] + h[None, :, None] + w[None, None, :]).flatten(0, 2)  # (T*H*W, width)

    def resize(self, sizes: tuple[int, int, int]) -> None:
        """Store tables of at least ``sizes`` rows (interpolated: training at a larger size starts from them)."""
        for name, n in zip("thw", sizes, strict=True):
            table = getattr(self, name)
            if n > table.shape[0]:
                setattr(self, name, nn.Parameter(self._fit(table.detach(), n).clone()))


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)  # (B, L, H*D) -> (B, H, L, D), a view


class Attention(nn.Module):
    """LLaMa attention projections (no bias). Self-attention goes through ``attention`` (so Ulysses can take it);
    cross-attention through ``local_attention``: its queries are this rank's tokens, its keys all of the text."""

    def __init__(self, width: int, heads: int, cross: bool):
        super().__init__()
        self.heads, self.cross = heads, cross
        self.to_q, self.to_k, self.to_v, self.to_out = (nn.Linear(width, width, bias=False) for _ in range(4))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        kv = x if context is None else context
        q, k, v = _heads(self.to_q(x), self.heads), _heads(self.to_k(kv), self.heads), _heads(self.to_v(kv),
                                                                                              self.heads)
        if self.cross:
            out = local_attention(q, k, v, mask, get_attention_backend())
        else:
            out = attention(q, k, v, mask)
        return self.to_out(out.transpose(1, 2).flatten(2))


class SwiGLU(nn.Module):
    """LLaMa's feed-forward: w2(silu(w1 x) * w3 x)."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.w1, self.w2, self.w3 = nn.Linear(width, hidden, bias=False), nn.Linear(hidden, width, bias=False), \
            nn.Linear(width, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """LLaMa-3 block + cross-attention between self-attention and feed-forward + adaLN from the timestep."""

    def __init__(self, cfg: MovieGenTransformerConfig):
        super().__init__()
        w, eps = cfg.hidden_size, cfg.norm_eps
        self.norm1, self.norm2, self.norm3 = (nn.RMSNorm(w, eps=eps) for _ in range(3))
        self.attn = Attention(w, cfg.num_attention_heads, cross=False)
        self.cross_attn = Attention(w, cfg.num_attention_heads, cross=True)
        self.ff = SwiGLU(w, cfg.ffn_dim)
        self.scale_shift_table = nn.Parameter(torch.randn(6, w) / w**0.5)  # adaLN-single: added to the shared one

    def forward(self, x, pos, time, text, text_mask):
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.scale_shift_table[None] + time).chunk(6, dim=1)
        x = x + pos
        x = x + gate1 * self.attn(modulate(self.norm1(x), shift1, scale1))
        x = x + self.cross_attn(self.norm2(x), text, text_mask)
        return x + gate2 * self.ff(modulate(self.norm3(x), shift2, scale2))


class TextProjection(nn.Module):
    """One text encoder's states -> the DiT's width (Linear + LayerNorm)."""

    def __init__(self, dim: int, width: int):
        super().__init__()
        self.linear = nn.Linear(dim, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.linear(x))


class MovieGenTransformer(nn.Module):
    """The MovieGen DiT. ``gradient_checkpointing = True`` recomputes each block in backward."""

    def __init__(self, config: MovieGenTransformerConfig | dict | None = None):
        super().__init__()
        if isinstance(config, dict):
            config = MovieGenTransformerConfig.from_dict(config)
        self.config = cfg = config or MovieGenTransformerConfig()
        w = cfg.hidden_size
        self.gradient_checkpointing = False
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_channels, w)
        self.positions = Positions(cfg.max_positions, w)
        self.text_projections = nn.ModuleDict({name: TextProjection(dim, w) for name, dim in cfg.text_dims.items()
                                               if dim})
        self.time_embed = MLPEmbedder(256, w)
        self.time_modulation = nn.Linear(w, 6 * w)  # adaLN-single
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.num_layers)])
        self.norm_out = nn.RMSNorm(w, eps=cfg.norm_eps)
        self.final_table = nn.Parameter(torch.randn(2, w) / w**0.5)
        self.proj_out = nn.Linear(w, cfg.out_channels * cfg.patch_size[0] * cfg.patch_size[1] * cfg.patch_size[2])

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def resize_positions(self, grid: tuple[int, int, int]) -> None:
        """Grow the position tables to a latent-token grid (t, h, w) (interpolated), for training at that size."""
        self.positions.resize(grid)
        self.config.max_positions = tuple(max(a, b) for a, b in zip(self.config.max_positions, grid, strict=True))

    def embed_text(self, text: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """{"<encoder>": (B, L, dim), "<encoder>_mask": (B, L)} -> concatenated (B, sum L, width) and mask."""
        states, masks = [], []
        for name, proj in self.text_projections.items():
            if name not in text:
                raise UserError(f"the DiT needs the {name} text states; got {', '.join(sorted(text))}")
            h = text[name].to(proj.linear.weight.dtype)
            states.append(proj(h))
            mask = text.get(f"{name}_mask")
            masks.append(mask.bool() if mask is not None else torch.ones(h.shape[:2], dtype=torch.bool,
                                                                          device=h.device))
        mask = torch.cat(masks, dim=1)
        empty = ~mask.any(dim=1, keepdim=True)  # a row with no valid key (an empty prompt) keeps its first key
        return torch.cat(states, dim=1), torch.cat([mask[:, :1] | empty, mask[:, 1:]], dim=1)

    def _run(self, block, *args):
        if self.gradient_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor, ul2: torch.Tensor | None = None,
                ul2_mask: torch.Tensor | None = None, byt5: torch.Tensor | None = None,
                byt5_mask: torch.Tensor | None = None, metaclip: torch.Tensor | None = None,
                metaclip_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Velocity (B, out_channels, T, H, W) of latents (B, in_channels, T, H, W); ``timestep`` (B,) or scalar,
        sigma * 1000; each text encoder's states (B, L, dim) and mask (B, L) as its own argument (flat tensors: an
        exported graph takes them as inputs)."""
        x, ctx = self._embed(hidden_states, timestep, ul2, ul2_mask, byt5, byt5_mask, metaclip, metaclip_mask)
        return self._unembed(self._blocks(x, ctx), ctx)

    def split_first_block(self):
        """``forward`` cut after the first block (vgen.pipeline.DenoiserSplit: step caching); the parts run the very
        ops ``forward`` runs."""
        from vgen.pipeline import DenoiserSplit

        if not self.blocks:
            raise UserError("step caching needs a block to compare (this DiT has num_layers = 0)")

        def head(*args, **kwargs):
            x, ctx = self._embed(*args, **kwargs)
            first = self._run(self.blocks[0], x, ctx["pos"], ctx["time"], ctx["context"], ctx["mask"])
            return first - x - ctx["pos"], first, ctx  # what the block itself changed (it adds the positions)

        return DenoiserSplit(self, head, rest=lambda x, ctx: self._blocks(x, ctx, start=1), finish=self._unembed)

    def _embed(self, hidden_states, timestep, ul2=None, ul2_mask=None, byt5=None, byt5_mask=None, metaclip=None,
               metaclip_mask=None):
        """Video tokens and what every block takes (positions, adaLN from the timestep, text states and mask)."""
        text = {k: v for k, v in (("ul2", ul2), ("ul2_mask", ul2_mask), ("byt5", byt5), ("byt5_mask", byt5_mask),
                                  ("metaclip", metaclip), ("metaclip_mask", metaclip_mask)) if v is not None}
        cfg = self.config
        batch, _, frames, height, width = hidden_states.shape
        pt, ph, pw = cfg.patch_size
        if frames % pt or height % ph or width % pw:
            raise UserError(f"latent size {frames}x{height}x{width} is not a multiple of the patch {pt}x{ph}x{pw}")
        grid = (frames // pt, height // ph, width // pw)
        dtype = self.patch_embed.proj.weight.dtype
        timestep = torch.as_tensor(timestep, device=hidden_states.device).reshape(-1).expand(batch)
        cond = self.time_embed(timestep_embedding(timestep).to(dtype))
        time = self.time_modulation(F.silu(cond)).unflatten(1, (6, -1))  # (B, 6, width)
        context, mask = self.embed_text(text)
        if not (torch.compiler.is_exporting() or torch.compiler.is_compiling()) and bool(mask.all()):
            mask = None  # nothing padded: the unmasked (flash) kernels
        x = self.patch_embed(hidden_states.to(dtype))
        pos = self.positions(grid).to(dtype)
        return x, {"pos": pos, "time": time, "context": context, "mask": mask, "cond": cond, "grid": grid,
                   "shape": hidden_states.shape}

    def _blocks(self, x, ctx: dict, start: int = 0) -> torch.Tensor:
        for block in self.blocks[start:]:
            x = self._run(block, x, ctx["pos"], ctx["time"], ctx["context"], ctx["mask"])
        return x

    def _unembed(self, x, ctx: dict) -> torch.Tensor:
        """Final adaLN + projection, unpatchify."""
        batch, _, frames, height, width = ctx["shape"]
        pt, ph, pw = self.config.patch_size
        shift, scale = (self.final_table[None] + ctx["cond"][:, None]).chunk(2, dim=1)
        x = self.proj_out(modulate(self.norm_out(x), shift, scale))
        x = x.reshape(batch, *ctx["grid"], -1, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return x.reshape(batch, -1, frames, height, width)


def sequence_split(dit: MovieGenTransformer):
    """Where vgen.distributed.ulysses shards (patch embedding), gathers (output projection) and the blocks' position
    rows (argument 1)."""
    from vgen.distributed.ulysses import SequenceSplit

    return SequenceSplit(embed=dit.patch_embed, out=dit.proj_out, blocks=[(block, 1) for block in dit.blocks])
