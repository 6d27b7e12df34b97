"""HunyuanVideo's causal 3D VAE: video (B, 3, 4k+1, H, W) in [-1, 1] <-> latents (B, 16, k+1, H/8, W/8).

Self-contained port of the architecture in the HunyuanVideo paper (arXiv 2412.03603). The module tree and the
parameter names are those of diffusers' ``AutoencoderKLHunyuanVideo``, so a diffusers ``vae/`` folder loads as it
is (``AutoencoderKLHunyuanVideo.from_pretrained(folder)``), and the tiling follows diffusers' algorithm so that
tiled outputs match too.

Read top to bottom:
  1. config            4. resnet block             7. encoder / decoder
  2. Gaussian posterior 5. down / up sampling       8. the autoencoder: encode, decode, tiling, training forward
  3. causal conv        6. frame-causal mid block
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from vgen.errors import UserError, check_frames_4k1
from vgen.nn.attention import attention, get_attention_backend

# --------------------------------------------------------------------------------------------------------------------
# 1. Config
# --------------------------------------------------------------------------------------------------------------------

DOWN_BLOCK = "HunyuanVideoDownBlock3D"
UP_BLOCK = "HunyuanVideoUpBlock3D"


@dataclass
class HunyuanVideoVAEConfig:
    """Field names are diffusers' ``vae/config.json`` keys; defaults are the released model's."""

    in_channels: int = 3  # RGB pixels in
    out_channels: int = 3  # RGB pixels out
    latent_channels: int = 16  # the DiT sees 16 channels; the encoder emits 2x (mean, logvar)
    down_block_types: tuple[str, ...] = (DOWN_BLOCK,) * 4  # one block per width (only this type exists)
    up_block_types: tuple[str, ...] = (UP_BLOCK,) * 4
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)  # widths, encoder order (decoder reverses)
    layers_per_block: int = 2  # resnets per down block; each up block has one more
    act_fn: str = "silu"  # resnet nonlinearity (the output heads always use SiLU)
    norm_num_groups: int = 32  # GroupNorm groups everywhere (eps 1e-6)
    scaling_factor: float = 0.476986  # latents are multiplied by this before the DiT sees them
    spatial_compression_ratio: int = 8  # H, W -> H/8, W/8 (log2 of it = number of spatial downsamplings)
    temporal_compression_ratio: int = 4  # 4k+1 frames -> k+1 latent frames (only 4 is supported)
    mid_block_add_attention: bool = True  # frame-causal self-attention in the middle of encoder and decoder

    @classmethod
    def from_dict(cls, config: dict) -> HunyuanVideoVAEConfig:
        """Build from a diffusers config.json dict; ``_class_name``, ``_diffusers_version`` and unknown keys are
        ignored, JSON lists become tuples."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k in known}
        return cls(**kwargs)

    def to_dict(self) -> dict:
        return {"_class_name": "AutoencoderKLHunyuanVideo", **asdict(self)}

    def __post_init__(self):
        n = len(self.block_out_channels)
        if len(self.down_block_types) != n or len(self.up_block_types) != n:
            raise UserError(f"VAE config: {n} block_out_channels but {len(self.down_block_types)} down and "
                            f"{len(self.up_block_types)} up block types")
        if set(self.down_block_types) != {DOWN_BLOCK} or set(self.up_block_types) != {UP_BLOCK}:
            raise UserError(f"VAE config: block types must be {DOWN_BLOCK} / {UP_BLOCK}")
        if self.temporal_compression_ratio != 4:
            raise UserError(f"VAE config: temporal_compression_ratio must be 4, got {self.temporal_compression_ratio}")
        if self.act_fn not in ACTIVATIONS:
            raise UserError(f"VAE config: act_fn {self.act_fn!r} unknown; known: {', '.join(ACTIVATIONS)}")
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise UserError(f"VAE config: widths {bad} are not divisible by norm_num_groups={self.norm_num_groups}")


# In-place activations save one activation-sized buffer at inference (never used while autograd records).
ACTIVATIONS = {"silu": F.silu, "swish": F.silu, "mish": F.mish, "relu": F.relu}


def _act(x: torch.Tensor, name: str = "silu") -> torch.Tensor:
    return ACTIVATIONS[name](x, inplace=not torch.is_grad_enabled())


def _add(x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    return x.add_(residual) if not torch.is_grad_enabled() else x + residual


def _maybe_checkpoint(module: nn.Module, x: torch.Tensor, enabled: bool) -> torch.Tensor:
    """Recompute ``module`` in the backward pass instead of keeping its activations (training only)."""
    if enabled and torch.is_grad_enabled():
        return checkpoint(module, x, use_reentrant=False)
    return module(x)


# --------------------------------------------------------------------------------------------------------------------
# 2. Diagonal Gaussian posterior
# --------------------------------------------------------------------------------------------------------------------


class DiagonalGaussian:
    """q(z|x) = N(mean, exp(logvar)); the encoder's 2C channels are [mean; logvar]."""

    def __init__(self, moments: torch.Tensor):
        self.mean, logvar = moments.chunk(2, dim=1)  # views, no copy
        self.logvar = logvar.clamp(-30.0, 20.0)  # keeps exp() finite, as the reference does

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def var(self) -> torch.Tensor:
        return torch.exp(self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """mean + std * eps; eps is drawn on the generator's device (same numbers as diffusers' randn_tensor)."""
        device = generator.device if generator is not None else self.mean.device
        eps = torch.randn(self.mean.shape, generator=generator, device=device, dtype=self.mean.dtype)
        return self.mean + self.std * eps.to(self.mean.device)

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per sample, summed over every non-batch dimension (channels, frames, height, width)."""
        return 0.5 * (self.mean.pow(2) + self.var - 1.0 - self.logvar).flatten(1).sum(1)


# --------------------------------------------------------------------------------------------------------------------
# 3. Causal conv: the first frame is replicated (k_t - 1) times in front, so frame t never sees frames > t
# --------------------------------------------------------------------------------------------------------------------


_MKLDNN = torch.backends.mkldnn.is_available()


class HunyuanVideoCausalConv3d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int | tuple[int, int, int] = 1):
        super().__init__()
        k = kernel_size
        # F.pad order: (w_left, w_right, h_top, h_bottom, t_front, t_back); spatial padding replicates as well.
        self.padding = (k // 2, k // 2, k // 2, k // 2, k - 1, 0)
        self.conv = nn.Conv3d(in_channels, out_channels, k, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.padding):
            x = F.pad(x, self.padding, mode="replicate")
        if (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled() and _MKLDNN
                and not torch.compiler.is_exporting()):  # exported graphs keep the portable conv
            # PyTorch sends batch-1 3D convs with N*C*T*H <= 20480 to its slow im2col kernel (a heuristic tuned for
            # 2D); oneDNN runs them 2-4x faster, which is most of a small VAE's decode time on a CPU.
            conv = self.conv
            return torch.ops.aten.mkldnn_convolution(x, conv.weight, conv.bias, [0, 0, 0], list(conv.stride),
                                                     [1, 1, 1], 1)
        return self.conv(x)


# --------------------------------------------------------------------------------------------------------------------
# 4. Resnet block: (GroupNorm -> act -> causal conv) x 2 + shortcut
# --------------------------------------------------------------------------------------------------------------------


class HunyuanVideoResnetBlockCausal3D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, groups: int, act_fn: str = "silu"):
        super().__init__()
        self.act_fn = act_fn
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=1e-6)
        self.conv1 = HunyuanVideoCausalConv3d(in_channels, out_channels, 3)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=1e-6)
        self.conv2 = HunyuanVideoCausalConv3d(out_channels, out_channels, 3)
        # A 1x1x1 conv matches channel counts when the block changes width.
        self.conv_shortcut = HunyuanVideoCausalConv3d(in_channels, out_channels, 1) if in_channels != out_channels \
            else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_act(self.norm1(x), self.act_fn))
        h = self.conv2(_act(self.norm2(h), self.act_fn))
        return _add(h, self.conv_shortcut(x) if self.conv_shortcut is not None else x)


# --------------------------------------------------------------------------------------------------------------------
# 5. Down / up sampling. Time: T -> (T-1)//2 + 1 down (stride-2 causal conv), T -> 2T-1 up (frame 0 not doubled)
# --------------------------------------------------------------------------------------------------------------------


class HunyuanVideoDownsampleCausal3D(nn.Module):
    def __init__(self, channels: int, stride: tuple[int, int, int]):
        super().__init__()
        self.conv = HunyuanVideoCausalConv3d(channels, channels, 3, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class HunyuanVideoUpsampleCausal3D(nn.Module):
    def __init__(self, channels: int, factor: tuple[int, int, int]):
        super().__init__()
        self.factor = factor  # (t, h, w), each 1 or 2
        self.conv = HunyuanVideoCausalConv3d(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Nearest upsampling written straight into the output (no interpolate + cat copies): frame 0 is repeated
        # spatially only, later frames are repeated ft times in time as well.
        b, c, t, h, w = x.shape
        ft, fh, fw = self.factor
        out = x.new_empty(b, c, 1 + (t - 1) * ft, h * fh, w * fw)
        out[:, :, :1].view(b, c, 1, h, fh, w, fw).copy_(x[:, :, :1, :, None, :, None].expand(-1, -1, -1, -1, fh, -1, fw))
        if t > 1:
            rest = x[:, :, 1:, None, :, None, :, None].expand(-1, -1, -1, ft, -1, fh, -1, fw)
            out[:, :, 1:].view(b, c, t - 1, ft, h, fh, w, fw).copy_(rest)
        return self.conv(out)


# --------------------------------------------------------------------------------------------------------------------
# 6. Mid block: resnet, single-head attention in which a token sees every token of its own and earlier frames, resnet
# --------------------------------------------------------------------------------------------------------------------


class HunyuanVideoCausalAttention(nn.Module):
    """GroupNorm -> one head of width C over all (t, h, w) tokens, frame-causal -> linear out -> + residual.

    Instead of an (L x L) mask, query frame t attends to the keys of frames 0..t in its own call: the same softmax,
    about half the work, no mask memory, and the unmasked kernels (flash / memory-efficient) stay usable.
    """

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])  # diffusers' key: to_out.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        hw = h * w
        tokens = self.group_norm(x).flatten(2).transpose(1, 2)  # (B, L, C), frame-major like the reference
        q, k, v = (proj(tokens).unsqueeze(1) for proj in (self.to_q, self.to_k, self.to_v))  # (B, 1, L, C)
        # vgen's attention switch; flash-attn stops at head_dim 256 and this head is C (512) wide, so it uses sdpa.
        backend = "sdpa" if c > 256 and get_attention_backend() == "flash" else None
        if torch.compiler.is_exporting():  # one masked call: a loop over frames would fix their count in the graph
            frame = torch.arange(t * hw, device=x.device) // hw
            out = attention(q, k, v, (frame[None, :] <= frame[:, None])[None, None], backend=backend)
        else:
            out = torch.empty_like(q)
            for f in range(t):
                rows, keys = slice(f * hw, (f + 1) * hw), slice(0, (f + 1) * hw)
                out[:, :, rows] = attention(q[:, :, rows], k[:, :, keys], v[:, :, keys], backend=backend)
        out = self.to_out[0](out.squeeze(1))
        return _add(out.transpose(1, 2).reshape(b, c, t, h, w), x)


class HunyuanVideoMidBlock3D(nn.Module):
    def __init__(self, channels: int, groups: int, act_fn: str, add_attention: bool):
        super().__init__()
        self.resnets = nn.ModuleList([HunyuanVideoResnetBlockCausal3D(channels, channels, groups, act_fn)
                                      for _ in range(2)])
        self.attentions = nn.ModuleList([HunyuanVideoCausalAttention(channels, groups)] if add_attention else [])
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ckpt = self.gradient_checkpointing
        x = _maybe_checkpoint(self.resnets[0], x, ckpt)
        for attn in self.attentions:
            x = _maybe_checkpoint(attn, x, ckpt)
        return _maybe_checkpoint(self.resnets[1], x, ckpt)


class HunyuanVideoDownBlock3D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_layers: int, groups: int, act_fn: str,
                 stride: tuple[int, int, int] | None):
        super().__init__()
        self.resnets = nn.ModuleList([
            HunyuanVideoResnetBlockCausal3D(in_channels if i == 0 else out_channels, out_channels, groups, act_fn)
            for i in range(num_layers)])
        self.downsamplers = nn.ModuleList([HunyuanVideoDownsampleCausal3D(out_channels, stride)]) if stride else None
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            x = _maybe_checkpoint(resnet, x, self.gradient_checkpointing)
        for down in self.downsamplers or ():
            x = _maybe_checkpoint(down, x, self.gradient_checkpointing)
        return x


class HunyuanVideoUpBlock3D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_layers: int, groups: int, act_fn: str,
                 factor: tuple[int, int, int] | None):
        super().__init__()
        self.resnets = nn.ModuleList([
            HunyuanVideoResnetBlockCausal3D(in_channels if i == 0 else out_channels, out_channels, groups, act_fn)
            for i in range(num_layers)])
        self.upsamplers = nn.ModuleList([HunyuanVideoUpsampleCausal3D(out_channels, factor)]) if factor else None
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            x = _maybe_checkpoint(resnet, x, self.gradient_checkpointing)
        for up in self.upsamplers or ():
            x = _maybe_checkpoint(up, x, self.gradient_checkpointing)
        return x


# --------------------------------------------------------------------------------------------------------------------
# 7. Encoder and decoder
# --------------------------------------------------------------------------------------------------------------------


def _resample_factors(cfg: HunyuanVideoVAEConfig) -> list[tuple[int, int, int] | None]:
    """(t, h, w) factor of block i, or None: spatial in the first log2(spatial ratio) blocks, temporal in the
    log2(temporal ratio) blocks before the last; the last block never resamples in time. Encoder and decoder share
    it (the decoder counts its blocks from the latent side): (1,2,2), (2,2,2), (2,2,2), None by default."""
    n = len(cfg.block_out_channels)
    n_space, n_time = int(math.log2(cfg.spatial_compression_ratio)), int(math.log2(cfg.temporal_compression_ratio))
    factors = []
    for i in range(n):
        space = i < n_space
        time = n - 1 - n_time <= i < n - 1
        factors.append((2 if time else 1, 2 if space else 1, 2 if space else 1) if space or time else None)
    return factors


class HunyuanVideoEncoder3D(nn.Module):
    def __init__(self, cfg: HunyuanVideoVAEConfig):
        super().__init__()
        widths, g, act = cfg.block_out_channels, cfg.norm_num_groups, cfg.act_fn
        self.conv_in = HunyuanVideoCausalConv3d(cfg.in_channels, widths[0], 3)
        self.down_blocks = nn.ModuleList([
            HunyuanVideoDownBlock3D(widths[max(i - 1, 0)], widths[i], cfg.layers_per_block, g, act, stride)
            for i, stride in enumerate(_resample_factors(cfg))])
        self.mid_block = HunyuanVideoMidBlock3D(widths[-1], g, act, cfg.mid_block_add_attention)
        self.conv_norm_out = nn.GroupNorm(g, widths[-1], eps=1e-6)
        self.conv_out = HunyuanVideoCausalConv3d(widths[-1], 2 * cfg.latent_channels, 3)  # mean and logvar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for block in self.down_blocks:
            x = block(x)
        x = self.mid_block(x)
        return self.conv_out(_act(self.conv_norm_out(x)))


class HunyuanVideoDecoder3D(nn.Module):
    def __init__(self, cfg: HunyuanVideoVAEConfig):
        super().__init__()
        widths, g, act = cfg.block_out_channels[::-1], cfg.norm_num_groups, cfg.act_fn
        self.conv_in = HunyuanVideoCausalConv3d(cfg.latent_channels, widths[0], 3)
        self.mid_block = HunyuanVideoMidBlock3D(widths[0], g, act, cfg.mid_block_add_attention)
        self.up_blocks = nn.ModuleList([
            HunyuanVideoUpBlock3D(widths[max(i - 1, 0)], widths[i], cfg.layers_per_block + 1, g, act, factor)
            for i, factor in enumerate(_resample_factors(cfg))])
        self.conv_norm_out = nn.GroupNorm(g, widths[-1], eps=1e-6)
        self.conv_out = HunyuanVideoCausalConv3d(widths[-1], cfg.out_channels, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.mid_block(self.conv_in(z))
        for block in self.up_blocks:
            x = block(x)
        return self.conv_out(_act(self.conv_norm_out(x)))


# --------------------------------------------------------------------------------------------------------------------
# 8. The autoencoder
# --------------------------------------------------------------------------------------------------------------------


def _blend(a: torch.Tensor, b: torch.Tensor, extent: int, dim: int) -> torch.Tensor:
    """Linear cross-fade, in place on ``b``: the first ``extent`` slices of ``b`` along ``dim`` go from ``a``'s last
    slices (weight 1 - i/extent) to ``b``'s own (weight i/extent). Same weights as diffusers' blend_v/h/t."""
    extent = min(a.shape[dim], b.shape[dim], extent)
    if extent <= 0:
        return b
    w64 = torch.arange(extent, dtype=torch.float64) / extent  # python-float weights, rounded like diffusers'
    shape = [1] * b.ndim
    shape[dim] = extent
    w = w64.to(b.device, b.dtype).view(shape)
    w_a = (1 - w64).to(b.device, b.dtype).view(shape)
    head = b.narrow(dim, 0, extent)
    head.copy_(a.narrow(dim, a.shape[dim] - extent, extent) * w_a + head * w)
    return b


class AutoencoderKLHunyuanVideo(nn.Module):
    """``encode(video) -> DiagonalGaussian`` over raw latents; ``decode(raw latents) -> video``.

    Multiply a latent by ``config.scaling_factor`` before the DiT and divide by it before ``decode``. Video tensors
    are (B, C, T, H, W) in [-1, 1], T = 4k+1, H and W multiples of 8.

    Memory: temporal tiling is on by default (as in diffusers): a video longer than ``tile_sample_min_num_frames``
    is processed in overlapping chunks of frames. ``enable_tiling()`` adds overlapping spatial tiles; tiles are
    blended one row at a time straight into the output, so only the previous row of tiles is held.
    """

    def __init__(self, config: HunyuanVideoVAEConfig | dict | None = None):
        super().__init__()
        if config is None:
            config = HunyuanVideoVAEConfig()
        elif isinstance(config, dict):
            config = HunyuanVideoVAEConfig.from_dict(config)
        self.config = config
        c = config.latent_channels
        self.encoder = HunyuanVideoEncoder3D(config)
        self.decoder = HunyuanVideoDecoder3D(config)
        self.quant_conv = nn.Conv3d(2 * c, 2 * c, kernel_size=1)
        self.post_quant_conv = nn.Conv3d(c, c, kernel_size=1)

        self.spatial_compression_ratio = config.spatial_compression_ratio
        self.temporal_compression_ratio = config.temporal_compression_ratio
        self.gradient_checkpointing = False  # set on every block by enable_gradient_checkpointing()
        self.use_slicing = False  # batch items one at a time
        self.use_tiling = False  # spatial tiles
        self.use_temporal_tiling = True  # frame chunks (diffusers' use_framewise_encoding/decoding)
        self.tile_sample_min_height = 256
        self.tile_sample_min_width = 256
        self.tile_sample_min_num_frames = 16
        self.tile_sample_stride_height = 192
        self.tile_sample_stride_width = 192
        self.tile_sample_stride_num_frames = 12

    # ---- building and loading -------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, folder: str | Path, dtype: torch.dtype | None = None,
                        device: str | torch.device = "cpu") -> AutoencoderKLHunyuanVideo:
        """Load a diffusers-layout ``vae/`` folder (config.json + safetensors), streaming tensor by tensor."""
        from vgen.io.checkpoint import load_into, read_config

        config = HunyuanVideoVAEConfig.from_dict(read_config(folder))
        with torch.device("meta"):
            model = cls(config)
        load_into(model, folder, dtype=dtype, device=device)  # straight onto the device, one tensor at a time
        return model.eval()

    # ---- switches -------------------------------------------------------------------------------------------------

    def enable_tiling(self, tile_sample_min_height: int | None = None, tile_sample_min_width: int | None = None,
                      tile_sample_min_num_frames: int | None = None, tile_sample_stride_height: int | None = None,
                      tile_sample_stride_width: int | None = None,
                      tile_sample_stride_num_frames: int | None = None) -> None:
        """Turn on spatial tiling (and temporal tiling); sizes in pixels / frames, None keeps the current value."""
        s, t = self.spatial_compression_ratio, self.temporal_compression_ratio
        new = {}
        for name, value, multiple in (("tile_sample_min_height", tile_sample_min_height, s),
                                      ("tile_sample_min_width", tile_sample_min_width, s),
                                      ("tile_sample_min_num_frames", tile_sample_min_num_frames, t),
                                      ("tile_sample_stride_height", tile_sample_stride_height, s),
                                      ("tile_sample_stride_width", tile_sample_stride_width, s),
                                      ("tile_sample_stride_num_frames", tile_sample_stride_num_frames, t)):
            value = getattr(self, name) if value is None else int(value)
            if value <= 0 or value % multiple:
                raise UserError(f"{name} must be a positive multiple of {multiple}, got {value}")
            new[name] = value
        for axis in ("height", "width", "num_frames"):
            size, stride = new[f"tile_sample_min_{axis}"], new[f"tile_sample_stride_{axis}"]
            if stride > size:
                raise UserError(f"tile stride along {axis} ({stride}) is larger than the tile ({size}): gaps")
        for name, value in new.items():
            setattr(self, name, value)
        self.use_tiling = True
        self.use_temporal_tiling = True

    def disable_tiling(self, temporal: bool = False) -> None:
        """Turn spatial tiling off; ``temporal=True`` also turns frame chunking off (whole clip at once)."""
        self.use_tiling = False
        if temporal:
            self.use_temporal_tiling = False

    def enable_slicing(self) -> None:
        self.use_slicing = True

    def disable_slicing(self) -> None:
        self.use_slicing = False

    def enable_gradient_checkpointing(self, enabled: bool = True) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = enabled

    def disable_gradient_checkpointing(self) -> None:
        self.enable_gradient_checkpointing(False)

    # ---- encode ---------------------------------------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """Video (B, C, 4k+1, H, W) in [-1, 1] -> posterior over raw latents (B, latent, k+1, H/8, W/8)."""
        if x.ndim != 5:
            raise UserError(f"VAE encode expects a (batch, channels, frames, height, width) video, got {x.ndim}-D")
        if x.shape[1] != self.config.in_channels:
            raise UserError(f"VAE encode expects {self.config.in_channels} channels, got {x.shape[1]}")
        check_frames_4k1(x.shape[2])
        s = self.spatial_compression_ratio
        if x.shape[3] % s or x.shape[4] % s:
            raise UserError(f"video height and width must be multiples of {s}, got {x.shape[3]}x{x.shape[4]}")
        if self.use_slicing and x.shape[0] > 1:
            return DiagonalGaussian(torch.cat([self._encode(item) for item in x.split(1)]))
        return DiagonalGaussian(self._encode(x))

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_temporal_tiling and x.shape[2] > self.tile_sample_min_num_frames:
            return self._temporal_tiled(x, encode=True)
        return self._encode_frames(x)

    def _encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_tiling and (x.shape[3] > self.tile_sample_min_height or x.shape[4] > self.tile_sample_min_width):
            return self._spatial_tiled(x, encode=True)
        return self.quant_conv(self.encoder(x))

    # ---- decode ---------------------------------------------------------------------------------------------------

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw (unscaled) latents (B, latent, k+1, h, w) -> video (B, C, 4k+1, 8h, 8w), roughly in [-1, 1]."""
        if z.ndim != 5 or z.shape[1] != self.config.latent_channels:
            raise UserError(f"VAE decode expects latents (batch, {self.config.latent_channels}, frames, height, "
                            f"width), got shape {tuple(z.shape)}")
        if self.use_slicing and z.shape[0] > 1:
            return torch.cat([self._decode(item) for item in z.split(1)])
        return self._decode(z)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.use_temporal_tiling and z.shape[2] > self.tile_sample_min_num_frames // self.temporal_compression_ratio:
            return self._temporal_tiled(z, encode=False)
        return self._decode_frames(z)

    def _decode_frames(self, z: torch.Tensor) -> torch.Tensor:
        s = self.spatial_compression_ratio
        if self.use_tiling and (z.shape[3] > self.tile_sample_min_height // s
                                or z.shape[4] > self.tile_sample_min_width // s):
            return self._spatial_tiled(z, encode=False)
        return self.decoder(self.post_quant_conv(z))

    # ---- tiling (diffusers' algorithm: each tile cross-fades into the one above / to the left / before it) -------

    def _spatial_tiled(self, x: torch.Tensor, encode: bool) -> torch.Tensor:
        """Overlapping spatial tiles of the input; each output tile is blended with the already blended tiles above
        and to its left, and its top-left (stride x stride) part is written into the output."""
        s = self.spatial_compression_ratio
        size_h, size_w = self.tile_sample_min_height, self.tile_sample_min_width
        stride_h, stride_w = self.tile_sample_stride_height, self.tile_sample_stride_width
        if encode:  # pixels in, latents out
            in_size_h, in_size_w, in_stride_h, in_stride_w = size_h, size_w, stride_h, stride_w
            out_stride_h, out_stride_w = stride_h // s, stride_w // s
            blend_h, blend_w = size_h // s - out_stride_h, size_w // s - out_stride_w
            run = lambda tile: self.quant_conv(self.encoder(tile))  # noqa: E731
        else:  # latents in, pixels out
            in_size_h, in_size_w, in_stride_h, in_stride_w = size_h // s, size_w // s, stride_h // s, stride_w // s
            out_stride_h, out_stride_w = stride_h, stride_w
            blend_h, blend_w = size_h - stride_h, size_w - stride_w
            run = lambda tile: self.decoder(self.post_quant_conv(tile))  # noqa: E731

        height, width = x.shape[3], x.shape[4]
        out_h, out_w = (height // s, width // s) if encode else (height * s, width * s)
        out = None
        above: list[torch.Tensor] = []
        for row, i in enumerate(range(0, height, in_stride_h)):
            current: list[torch.Tensor] = []
            for col, j in enumerate(range(0, width, in_stride_w)):
                tile = run(x[:, :, :, i:i + in_size_h, j:j + in_size_w])
                if row > 0:
                    _blend(above[col], tile, blend_h, dim=3)
                if col > 0:
                    _blend(current[col - 1], tile, blend_w, dim=4)
                current.append(tile)
                if out is None:
                    out = tile.new_empty(*tile.shape[:3], out_h, out_w)
                y, x0 = row * out_stride_h, col * out_stride_w
                ph, pw = min(out_stride_h, out_h - y), min(out_stride_w, out_w - x0)
                out[:, :, :, y:y + ph, x0:x0 + pw] = tile[:, :, :, :ph, :pw]
            above = current  # the row above is all a tile ever blends with
        return out

    def _temporal_tiled(self, x: torch.Tensor, encode: bool) -> torch.Tensor:
        """Overlapping chunks of frames; every chunk but the first drops its first output frame (it is the causal
        restart), cross-fades with the previous chunk's tail and contributes ``stride`` frames."""
        t = self.temporal_compression_ratio
        size, stride = self.tile_sample_min_num_frames, self.tile_sample_stride_num_frames
        frames = x.shape[2]
        if encode:
            in_size, in_stride = size, stride
            out_stride, blend = stride // t, size // t - stride // t
            out_frames = (frames - 1) // t + 1
            run = self._encode_frames
        else:
            in_size, in_stride = size // t, stride // t
            out_stride, blend = stride, size - stride
            out_frames = (frames - 1) * t + 1
            run = self._decode_frames

        out, previous, filled = None, None, 0
        for i in range(0, frames, in_stride):
            if filled >= out_frames:  # later chunks would only blend into frames that are cut off
                break
            chunk = run(x[:, :, i:i + in_size + 1])  # one extra frame: 4k+1 frames map to k+1 latents
            if previous is None:
                piece = chunk[:, :, :out_stride + 1]
            else:
                chunk = _blend(previous, chunk[:, :, 1:], blend, dim=2)
                piece = chunk[:, :, :out_stride]
            if out is None:
                out = chunk.new_empty(*chunk.shape[:2], out_frames, *chunk.shape[3:])
            n = min(piece.shape[2], out_frames - filled)
            out[:, :, filled:filled + n] = piece[:, :, :n]
            filled += n
            previous = chunk
        return out

    # ---- training -------------------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, sample_posterior: bool = False,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Reconstruction and posterior, for training (L1 / LPIPS / GAN on the reconstruction, KL on the posterior)."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z), posterior
