"""HunyuanVideo's diffusion transformer (13B): token refiner, 20 dual-stream + 40 single-stream blocks, 3D RoPE.

Parameter names equal diffusers' ``HunyuanVideoTransformer3DModel``, so a diffusers ``transformer/`` folder loads as
it is (``HunyuanVideoTransformer3DModel.from_pretrained(folder)``). Facts: shared/design/hunyuan_video.md.

Data flow of ``forward`` (B batch, Li video tokens, Lt text tokens, width = heads * head_dim):

    latents (B, C, T, H, W) --patch conv--> video tokens (B, Li, width)
    LLM states (B, Lt, 4096) --token refiner--> text tokens (B, Lt, width)
    timestep + pooled CLIP + guidance --> conditioning vector (B, width)
    dual-stream blocks: separate weights per stream, one joint attention over [video; text]
    single-stream blocks: the joint sequence [video; text], parallel attention + MLP
    final adaLN + linear on the video tokens --unpatchify--> (B, C, T, H, W)

Speed notes: one attention call over the joint sequence per block; the joint sequence stays one tensor through the
single-stream blocks; text padding that no sample uses is dropped before the blocks and, when nothing is left to
mask, attention runs without a mask (so torch can pick its flash kernel); RoPE is one complex multiply with identity
rotations for text (complex multiply: one kernel); adaLN modulation and gated residuals are single fused ops.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from vgen.errors import UserError
from vgen.nn.attention import attention
from vgen.nn.layers import (
    AdaLNModulation,
    FeedForward,
    MLPEmbedder,
    gated_add,
    layer_norm,
    modulate,
    timestep_embedding,
)
from vgen.nn.rope import apply_rope, pad_rope, rope_3d


@dataclass
class HunyuanVideoTransformerConfig:
    """The transformer's shape; field names are the keys of diffusers' ``transformer/config.json``."""

    in_channels: int = 16  # latent channels in (the VAE's 16)
    out_channels: int = 16  # latent channels out (the predicted velocity)
    num_attention_heads: int = 24
    attention_head_dim: int = 128  # width = heads * head_dim = 3072
    num_layers: int = 20  # dual-stream blocks (separate video / text weights, joint attention)
    num_single_layers: int = 40  # single-stream blocks (shared weights over [video; text])
    num_refiner_layers: int = 2  # token-refiner blocks applied to the text states first
    mlp_ratio: float = 4.0  # MLP hidden = width * mlp_ratio
    patch_size: int = 2  # spatial patch (height and width)
    patch_size_t: int = 1  # temporal patch
    qk_norm: str = "rms_norm"  # RMSNorm on q and k of the main blocks (the only kind HunyuanVideo uses)
    guidance_embeds: bool = True  # guidance-distilled: the guidance scale is an input embedding
    text_embed_dim: int = 4096  # LLM hidden size
    pooled_projection_dim: int = 768  # CLIP pooled size
    rope_theta: float = 256.0
    rope_axes_dim: tuple[int, int, int] = (16, 56, 56)  # RoPE channels for (time, height, width); sum = head_dim
    image_condition_type: str | None = None  # None, or "latent_concat" (image-to-video: more in_channels)

    def __post_init__(self):
        self.rope_axes_dim = tuple(self.rope_axes_dim)
        if len(self.rope_axes_dim) != 3 or sum(self.rope_axes_dim) != self.attention_head_dim:
            raise UserError(f"rope_axes_dim {self.rope_axes_dim} must be 3 numbers summing to attention_head_dim "
                            f"({self.attention_head_dim})")
        if self.qk_norm != "rms_norm":
            raise UserError(f"qk_norm {self.qk_norm!r} is not supported; HunyuanVideo uses 'rms_norm'")
        if self.image_condition_type not in (None, "latent_concat"):
            raise UserError(f"image_condition_type {self.image_condition_type!r} is not supported "
                            "(only none or 'latent_concat')")

    @property
    def hidden_size(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @classmethod
    def from_dict(cls, data: dict) -> HunyuanVideoTransformerConfig:
        """From a diffusers config.json dict; metadata keys starting with "_" are ignored, unknown keys refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(k for k in data if k not in known and not k.startswith("_"))
        if unknown:
            raise UserError(f"unknown HunyuanVideo transformer config keys: {', '.join(unknown)}")
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        """The diffusers config.json content (so a saved folder loads in diffusers too)."""
        data = asdict(self)
        data["rope_axes_dim"] = list(self.rope_axes_dim)
        return {"_class_name": "HunyuanVideoTransformer3DModel", **data}


# ----------------------------------------------------------------------------------------------------------------
# Conditioning


class PatchEmbed(nn.Module):
    """(B, C, T, H, W) latents -> (B, T'*H'*W', width) tokens with one strided Conv3d."""

    def __init__(self, patch: tuple[int, int, int], in_channels: int, width: int):
        super().__init__()
        self.proj = nn.Conv3d(in_channels, width, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class ConditionEmbedding(nn.Module):
    """Conditioning vector = MLP(sinusoid(timestep)) + MLP(pooled text) [+ MLP(sinusoid(guidance))]."""

    def __init__(self, width: int, pooled_dim: int, guidance: bool):
        super().__init__()
        self.timestep_embedder = MLPEmbedder(256, width)
        self.text_embedder = MLPEmbedder(pooled_dim, width)
        self.guidance_embedder = MLPEmbedder(256, width) if guidance else None

    def forward(self, timestep: torch.Tensor, pooled: torch.Tensor, guidance: torch.Tensor | None = None):
        dtype = self.timestep_embedder.linear_1.weight.dtype
        cond = self.timestep_embedder(timestep_embedding(timestep).to(dtype)) + self.text_embedder(pooled)
        if self.guidance_embedder is not None:
            if guidance is None:
                raise UserError("this transformer is guidance-distilled (guidance_embeds): pass guidance, e.g. "
                                "6.0 * 1000")
            cond = cond + self.guidance_embedder(timestep_embedding(guidance).to(dtype))
        return cond


# ----------------------------------------------------------------------------------------------------------------
# Token refiner: a small bidirectional transformer over the LLM states, conditioned on timestep + mean text


class SelfAttention(nn.Module):
    """Plain multi-head self-attention (the refiner's: no qk-norm, no RoPE)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v = (nn.Linear(width, width) for _ in range(3))
        self.to_out = nn.ModuleList([nn.Linear(width, width)])  # diffusers' key: to_out.0

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        q, k, v = (proj(x).unflatten(-1, (self.heads, -1)).transpose(1, 2) for proj in (self.to_q, self.to_k,
                                                                                       self.to_v))
        return self.to_out[0](attention(q, k, v, mask).transpose(1, 2).flatten(2))


class RefinerBlock(nn.Module):
    """Pre-norm self-attention + SiLU MLP; the conditioning vector only gates the two residuals."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = SelfAttention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.ff = FeedForward(width, int(width * mlp_ratio), activation="silu")
        self.norm_out = AdaLNModulation(width, 2)  # gate_attn, gate_mlp

    def forward(self, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        gate_attn, gate_mlp = self.norm_out(cond)
        x = gated_add(x, gate_attn, self.attn(self.norm1(x), mask))
        return gated_add(x, gate_mlp, self.ff(self.norm2(x)))


class TokenRefiner(nn.Module):
    """LLM states (B, Lt, text_dim) -> text tokens (B, Lt, width)."""

    def __init__(self, text_dim: int, width: int, heads: int, layers: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.time_text_embed = ConditionEmbedding(width, text_dim, guidance=False)
        self.proj_in = nn.Linear(text_dim, width)
        # diffusers nests the blocks one level deeper: token_refiner.refiner_blocks.N
        self.token_refiner = nn.ModuleDict(
            {"refiner_blocks": nn.ModuleList([RefinerBlock(width, heads, mlp_ratio) for _ in range(layers)])})

    def forward(self, text: torch.Tensor, timestep: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            pooled = text.mean(dim=1)
        else:  # mean over the valid tokens, in float32 (an empty prompt, e.g. a CFG negative, pools to zero, not NaN)
            weights = mask.float().unsqueeze(-1)
            pooled = ((text * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)).to(text.dtype)
            # a valid query attends to the valid keys; key 0 always stays visible so no row is empty
            mask = mask.clone()
            mask[:, 0] = True
        cond = self.time_text_embed(timestep, pooled)
        x = self.proj_in(text)
        for block in self.token_refiner["refiner_blocks"]:
            x = block(x, cond, mask)
        return x


# ----------------------------------------------------------------------------------------------------------------
# Main blocks


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, heads*D) -> (B, L, heads, D), a view."""
    return x.unflatten(-1, (heads, -1))


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rope: torch.Tensor,
            mask: torch.Tensor | None) -> torch.Tensor:
    """RoPE on (B, L, H, D) q and k, attention, back to (B, L, H*D). Transposes are views, not copies."""
    q, k = apply_rope(q, rope), apply_rope(k, rope)
    return attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask).transpose(1, 2).flatten(2)


class JointAttention(nn.Module):
    """Dual-stream attention: separate projections and qk-norms per stream, one attention over [video; text]."""

    def __init__(self, width: int, heads: int, head_dim: int):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v = (nn.Linear(width, width) for _ in range(3))  # video
        self.add_q_proj, self.add_k_proj, self.add_v_proj = (nn.Linear(width, width) for _ in range(3))  # text
        self.norm_q, self.norm_k = nn.RMSNorm(head_dim, eps=1e-6), nn.RMSNorm(head_dim, eps=1e-6)
        self.norm_added_q, self.norm_added_k = nn.RMSNorm(head_dim, eps=1e-6), nn.RMSNorm(head_dim, eps=1e-6)
        self.to_out = nn.ModuleList([nn.Linear(width, width)])  # video out; diffusers' key: to_out.0
        self.to_add_out = nn.Linear(width, width)  # text out

    def forward(self, x: torch.Tensor, c: torch.Tensor, rope: torch.Tensor, mask: torch.Tensor | None):
        h = self.heads
        q = torch.cat([self.norm_q(_heads(self.to_q(x), h)), self.norm_added_q(_heads(self.add_q_proj(c), h))], 1)
        k = torch.cat([self.norm_k(_heads(self.to_k(x), h)), self.norm_added_k(_heads(self.add_k_proj(c), h))], 1)
        v = _heads(torch.cat([self.to_v(x), self.add_v_proj(c)], 1), h)
        out_x, out_c = _attend(q, k, v, rope, mask).split([x.shape[1], c.shape[1]], dim=1)
        return self.to_out[0](out_x), self.to_add_out(out_c)


class DualStreamBlock(nn.Module):
    """adaLN-Zero block with separate weights for video (x) and text (c) tokens and joint attention."""

    def __init__(self, width: int, heads: int, head_dim: int, mlp_ratio: float):
        super().__init__()
        mlp = int(width * mlp_ratio)
        self.norm1 = AdaLNModulation(width, 6)  # video: shift/scale/gate for attention, then for the MLP
        self.norm1_context = AdaLNModulation(width, 6)  # text: the same six
        self.attn = JointAttention(width, heads, head_dim)
        self.ff = FeedForward(width, mlp)
        self.ff_context = FeedForward(width, mlp)

    def forward(self, x, c, cond, rope, mask):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.norm1(cond)
        c_shift1, c_scale1, c_gate1, c_shift2, c_scale2, c_gate2 = self.norm1_context(cond)
        attn_x, attn_c = self.attn(modulate(layer_norm(x), shift1, scale1),
                                   modulate(layer_norm(c), c_shift1, c_scale1), rope, mask)
        x = gated_add(x, gate1, attn_x)
        c = gated_add(c, c_gate1, attn_c)
        x = gated_add(x, gate2, self.ff(modulate(layer_norm(x), shift2, scale2)))
        c = gated_add(c, c_gate2, self.ff_context(modulate(layer_norm(c), c_shift2, c_scale2)))
        return x, c


class SingleStreamAttention(nn.Module):
    """Projections + qk-norm of the single-stream block (its output projection is the block's ``proj_out``)."""

    def __init__(self, width: int, heads: int, head_dim: int):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v = (nn.Linear(width, width) for _ in range(3))
        self.norm_q, self.norm_k = nn.RMSNorm(head_dim, eps=1e-6), nn.RMSNorm(head_dim, eps=1e-6)

    def forward(self, x: torch.Tensor, rope: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = self.heads
        q, k = self.norm_q(_heads(self.to_q(x), h)), self.norm_k(_heads(self.to_k(x), h))
        return _attend(q, k, _heads(self.to_v(x), h), rope, mask)


class SingleStreamBlock(nn.Module):
    """Attention and a GELU MLP side by side on the joint sequence; one linear maps both back; one gate."""

    def __init__(self, width: int, heads: int, head_dim: int, mlp_ratio: float):
        super().__init__()
        self.width = width
        self.attn = SingleStreamAttention(width, heads, head_dim)
        self.norm = AdaLNModulation(width, 3)  # shift, scale, gate
        self.proj_mlp = nn.Linear(width, int(width * mlp_ratio))
        self.proj_out = nn.Linear(width + int(width * mlp_ratio), width)  # input: concat(attention, mlp)

    def forward(self, x, cond, rope, mask):
        shift, scale, gate = self.norm(cond)
        h = modulate(layer_norm(x), shift, scale)
        attn = self.attn(h, rope, mask)
        mlp = F.gelu(self.proj_mlp(h), approximate="tanh")
        if type(self.proj_out) is not nn.Linear:  # swapped (FP8, LoRA ...): its own forward, on the concat
            return gated_add(x, gate, self.proj_out(torch.cat([attn, mlp.to(attn.dtype)], -1)))
        # proj_out(concat(attn, mlp)) as two matmuls on the two column blocks of its weight (the second one
        # accumulates in place), so the (L, 5 * width) concat is never materialised
        w = self.proj_out.weight
        out = F.linear(attn, w[:, : self.width], self.proj_out.bias)
        # in-place ops skip autocast: give addmm_ the dtypes F.linear ran in (bf16 under autocast)
        out.view(-1, self.width).addmm_(mlp.reshape(-1, mlp.shape[-1]).to(out.dtype),
                                        w[:, self.width:].t().to(out.dtype))
        return gated_add(x, gate, out)


# ----------------------------------------------------------------------------------------------------------------
# The model


class HunyuanVideoTransformer3DModel(nn.Module):
    """The HunyuanVideo DiT. Build with a config (dataclass or diffusers config dict); load with ``from_pretrained``.

    Build the 13B model without allocating: ``with torch.device("meta"): HunyuanVideoTransformer3DModel(cfg)``.
    Set ``gradient_checkpointing = True`` to recompute block activations in the backward pass.
    """

    def __init__(self, config: HunyuanVideoTransformerConfig | dict | None = None, **overrides):
        super().__init__()
        if isinstance(config, dict):
            config = HunyuanVideoTransformerConfig.from_dict({**config, **overrides})
        elif config is None or overrides:
            config = HunyuanVideoTransformerConfig.from_dict({**asdict(config or HunyuanVideoTransformerConfig()),
                                                              **overrides})
        self.config = cfg = config
        width, heads, head_dim = cfg.hidden_size, cfg.num_attention_heads, cfg.attention_head_dim
        self.gradient_checkpointing = False

        # 1. video latents -> tokens
        self.x_embedder = PatchEmbed((cfg.patch_size_t, cfg.patch_size, cfg.patch_size), cfg.in_channels, width)
        # 2. LLM states -> text tokens (token refiner)
        self.context_embedder = TokenRefiner(cfg.text_embed_dim, width, heads, cfg.num_refiner_layers)
        # 3. conditioning vector from timestep, pooled CLIP text and guidance
        self.time_text_embed = ConditionEmbedding(width, cfg.pooled_projection_dim, cfg.guidance_embeds)
        # 4. dual-stream blocks, then 5. single-stream blocks
        self.transformer_blocks = nn.ModuleList(
            [DualStreamBlock(width, heads, head_dim, cfg.mlp_ratio) for _ in range(cfg.num_layers)])
        self.single_transformer_blocks = nn.ModuleList(
            [SingleStreamBlock(width, heads, head_dim, cfg.mlp_ratio) for _ in range(cfg.num_single_layers)])
        # 6. final adaLN (diffusers' order: scale, shift) and projection to patch pixels (zero-initialised)
        self.norm_out = AdaLNModulation(width, 2)
        self.proj_out = nn.Linear(width, cfg.patch_size_t * cfg.patch_size**2 * cfg.out_channels)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    @classmethod
    def from_pretrained(cls, folder, dtype: torch.dtype | None = None,
                        device: torch.device | str = "cpu") -> HunyuanVideoTransformer3DModel:
        """Load a diffusers ``transformer/`` folder (config.json + safetensors, sharded or not), streaming shards."""
        from vgen.io.checkpoint import load_into, read_config

        config = HunyuanVideoTransformerConfig.from_dict(read_config(folder))
        with torch.device("meta"):
            model = cls(config)
        load_into(model, folder, dtype=dtype)
        return model.to(device)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def compile_repeated_blocks(self, **kwargs) -> None:
        """``torch.compile`` each dual- and single-stream block in place (all blocks of a kind share one graph)."""
        for block in (*self.transformer_blocks, *self.single_transformer_blocks):
            block.compile(**kwargs)

    def _run(self, block, *args):
        if self.gradient_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                encoder_attention_mask: torch.Tensor | None = None, pooled_projections: torch.Tensor | None = None,
                guidance: torch.Tensor | None = None) -> torch.Tensor:
        """Velocity (B, out_channels, T, H, W), in the weights' dtype, for latents (B, in_channels, T, H, W).

        timestep: (B,) or scalar, sigma * 1000. encoder_hidden_states: (B, Lt, text_embed_dim) LLM states;
        encoder_attention_mask: (B, Lt), 1/True for real tokens. pooled_projections: (B, pooled_projection_dim).
        guidance: (B,) or scalar, guidance scale * 1000 (guidance-distilled models only).
        """
        x, c, ctx = self._embed(hidden_states, timestep, encoder_hidden_states, encoder_attention_mask,
                                pooled_projections, guidance)
        return self._unembed(self._blocks(x, c, ctx), ctx)

    def split_first_block(self):
        """``forward`` cut after the first dual-stream block (vgen.pipeline.DenoiserSplit: step caching); the
        parts run the very ops ``forward`` runs."""
        from vgen.pipeline import DenoiserSplit

        if not self.transformer_blocks:
            raise UserError("step caching needs a dual-stream block to compare (this DiT has num_layers = 0)")

        def head(*args, **kwargs):
            x, c, ctx = self._embed(*args, **kwargs)
            first, c = self._run(self.transformer_blocks[0], x, c, ctx["cond"], ctx["rope"], ctx["mask"])
            return first - x, first, (c, ctx)

        return DenoiserSplit(self, head, rest=lambda x, state: self._blocks(x, state[0], state[1], start=1),
                             finish=lambda x, state: self._unembed(x, state[1]))

    def _embed(self, hidden_states, timestep, encoder_hidden_states, encoder_attention_mask=None,
               pooled_projections=None, guidance=None):
        """Steps 1-3 of ``forward``: video tokens, text tokens and what every block takes (cond, rope, mask)."""
        cfg = self.config
        batch, _, frames, height, width = hidden_states.shape
        p, pt = cfg.patch_size, cfg.patch_size_t
        if frames % pt or height % p or width % p:
            raise UserError(f"latent size {frames}x{height}x{width} is not a multiple of the patch size "
                            f"{pt}x{p}x{p}")
        grid = (frames // pt, height // p, width // p)
        timestep = torch.as_tensor(timestep, device=hidden_states.device).reshape(-1).expand(batch)
        if guidance is not None:
            guidance = torch.as_tensor(guidance, device=hidden_states.device).reshape(-1).expand(batch)
        if pooled_projections is None:
            raise UserError("pooled_projections (the CLIP pooled text embedding) is required")
        dtype = self.x_embedder.proj.weight.dtype  # inputs follow the weights (no-op when they match)
        hidden_states, encoder_hidden_states, pooled_projections = (
            t.to(dtype) for t in (hidden_states, encoder_hidden_states, pooled_projections))

        # 1. drop text positions that are padding in every sample; no mask at all when nothing padded is left
        #    (both depend on the mask's values, so an exported or compiled graph keeps the full mask: same result)
        text, text_mask = encoder_hidden_states, None
        if encoder_attention_mask is not None:
            text_mask = encoder_attention_mask.to(device=text.device, dtype=torch.bool)
            if not (torch.compiler.is_exporting() or torch.compiler.is_compiling()):
                used = text_mask.any(dim=0).nonzero()
                keep = int(used[-1]) + 1 if len(used) else 1
                text, text_mask = text[:, :keep], text_mask[:, :keep]
                if bool(text_mask.all()):
                    text_mask = None

        # 2. conditioning vector, video tokens, refined text tokens
        cond = self.time_text_embed(timestep, pooled_projections, guidance)
        x = self.x_embedder(hidden_states)
        c = self.context_embedder(text, timestep, text_mask)
        n_video, n_text = x.shape[1], c.shape[1]

        # 3. RoPE for the joint sequence (text gets identity rotations) and the key mask for it
        rope = pad_rope(rope_3d(grid, cfg.rope_axes_dim, cfg.rope_theta, x.device), n_text)[:, None]  # (L, 1, D/2, 2)
        mask = None
        if text_mask is not None:
            mask = torch.cat([text_mask.new_ones(batch, n_video), text_mask], dim=1)  # (B, Li + Lt)
        return x, c, {"cond": cond, "rope": rope, "mask": mask, "grid": grid, "shape": hidden_states.shape}

    def _blocks(self, x, c, ctx: dict, start: int = 0) -> torch.Tensor:
        """4. dual-stream blocks (from ``start``) on (video, text), then 5. single-stream blocks on [video; text];
        the video tokens out."""
        cond, rope, mask = ctx["cond"], ctx["rope"], ctx["mask"]
        for block in self.transformer_blocks[start:]:
            x, c = self._run(block, x, c, cond, rope, mask)
        n_video = x.shape[1]
        x = torch.cat([x, c], dim=1)
        for block in self.single_transformer_blocks:
            x = self._run(block, x, cond, rope, mask)
        return x[:, :n_video]

    def _unembed(self, x, ctx: dict) -> torch.Tensor:
        """6. final adaLN + projection, 7. unpatchify: each token's outputs are (channels, pt, p, p)."""
        batch, _, frames, height, width = ctx["shape"]
        p, pt = self.config.patch_size, self.config.patch_size_t
        scale, shift = self.norm_out(ctx["cond"])
        x = self.proj_out(modulate(layer_norm(x), shift, scale))
        x = x.reshape(batch, *ctx["grid"], -1, pt, p, p).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return x.reshape(batch, -1, frames, height, width)
