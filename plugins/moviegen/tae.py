"""MovieGen's temporal autoencoder (TAE): an image autoencoder inflated to "2.5D" (arXiv 2410.13720, section 3.1.1).

Video (B, 3, T, H, W) in [-1, 1] <-> latents (B, C, (T-1)/r + 1, H/r, W/r) with r = 2 ** (blocks - 1) in time and
space (8 with four blocks, as in MovieGen; C = 16 there). Frame rule: T = r*k + 1 (1, 9, 17, ... for r = 8) -- a
still image is one frame and one latent frame, so images and videos share the model; other counts get a one-line
error naming the nearest valid ones.

The module tree is diffusers' ``AutoencoderKL`` (Encoder / Decoder of ``DownEncoderBlock2D`` / ``UpDecoderBlock2D``,
the same parameter names), with these additions, which is why an image VAE's state dict loads as it is:

- every 3x3 conv (``InflatedConv``, its 2D weight unchanged) runs per frame and is followed by a 1D temporal conv
  (kernel 3, ``<name>.temporal``) with symmetric replicate padding -- not causal;
- every spatial attention (per frame) is followed by a temporal attention (``<name>_temporal``) per pixel;
- each spatial downsampling also halves time: a stride-2 temporal conv (``downsamplers.0.temporal``), T -> (T-1)/2+1;
- each upsampling repeats frames (nearest; the last copy dropped: T -> 2T-1) before its conv;
- GroupNorm normalises each frame (as the image model does), so a clip's frames do not share statistics.

``inflate`` (convert.py) starts the temporal layers as the identity (centre tap = I, attention output = 0): a still
video then encodes to the image VAE's latent in every latent frame and decodes to its decode in every frame.
1x1 convs (shortcuts, quant convs) are per-pixel and stay per frame.

Long videos: temporal tiles of ``tile_frames`` (32) frames, encoded without overlap (neighbouring tiles share their
boundary frame) and decoded with ``tile_overlap`` (16) frames of overlap, linearly cross-faded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from vgen.errors import UserError
from vgen.nn.attention import attention

DOWN_BLOCK, UP_BLOCK = "DownEncoderBlock2D", "UpDecoderBlock2D"


@dataclass
class TAEConfig:
    """Field names are diffusers' ``AutoencoderKL`` config keys (plus the tiling ones); defaults are MovieGen's."""

    in_channels: int = 3
    out_channels: int = 3
    latent_channels: int = 16
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)  # encoder widths; n blocks -> 2**(n-1) compression
    layers_per_block: int = 2  # resnets per encoder block; the decoder's blocks have one more
    act_fn: str = "silu"
    norm_num_groups: int = 32
    mid_block_add_attention: bool = True
    use_quant_conv: bool = True
    use_post_quant_conv: bool = True
    scaling_factor: float = 1.0  # latents * scaling_factor are what the DiT sees (fitted after training)
    shift_factor: float | None = None  # subtracted before scaling (diffusers' convention), None = 0
    down_block_types: tuple[str, ...] | None = None  # only DownEncoderBlock2D exists; kept for diffusers' configs
    up_block_types: tuple[str, ...] | None = None
    tile_frames: int = 32  # frames per temporal tile (a multiple of the compression)
    tile_overlap: int = 16  # frames shared by neighbouring tiles when decoding (cross-faded)

    def __post_init__(self):
        n = len(self.block_out_channels)
        for name, kind in (("down_block_types", DOWN_BLOCK), ("up_block_types", UP_BLOCK)):
            types = getattr(self, name)
            if types is not None and (len(types) != n or set(types) != {kind}):
                raise UserError(f"TAE config: {name} must be {n} x {kind}, got {list(types)}")
        if self.act_fn not in ACTIVATIONS:
            raise UserError(f"TAE config: act_fn {self.act_fn!r} unknown; known: {', '.join(ACTIVATIONS)}")
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise UserError(f"TAE config: widths {bad} are not divisible by norm_num_groups={self.norm_num_groups}")
        r = self.compression
        if self.tile_frames % r or not 0 <= self.tile_overlap < self.tile_frames or self.tile_overlap % r:
            raise UserError(f"TAE config: tile_frames ({self.tile_frames}) and tile_overlap ({self.tile_overlap}) "
                            f"must be multiples of {r}, the overlap smaller")

    @property
    def compression(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)

    @classmethod
    def from_dict(cls, data: dict) -> TAEConfig:
        """From a config.json dict (a TAE's or an image ``AutoencoderKL``'s); other keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        return {"_class_name": "MovieGenTAE", **asdict(self)}


ACTIVATIONS = {"silu": F.silu, "swish": F.silu, "relu": F.relu, "gelu": F.gelu, "mish": F.mish}


def check_frames(frames: int, r: int) -> None:
    """One-line UserError naming the nearest valid counts unless ``frames`` is r*k+1."""
    if frames < 1 or (frames - 1) % r:
        lo = max(1, (frames - 1) // r * r + 1)
        raise UserError(f"the TAE takes {r}k+1 frames (1, {r + 1}, {2 * r + 1}, ...), got {frames}; "
                        f"nearest valid: {lo} or {lo + r}")


# --------------------------------------------------------------------------------------------------------------------
# Per-frame 2D ops and the temporal layers


def frame_norm(norm: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    """GroupNorm of each frame of (B, C, T, H, W) on its own (the image model's statistics)."""
    b, c, t, h, w = x.shape
    y = norm(x.transpose(1, 2).reshape(b * t, c, h, w))
    return y.reshape(b, t, c, h, w).transpose(1, 2)


def temporal_identity(conv: nn.Conv3d) -> None:
    """A (3, 1, 1) conv that passes its input through: centre tap = I, others and bias 0."""
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    with torch.no_grad():
        conv.weight[:, :, 1, 0, 0].copy_(torch.eye(conv.out_channels, conv.in_channels))


class TemporalConv(nn.Conv3d):
    """Kernel 3 over time, replicate-padded on both sides; ``stride`` 2 halves time (T -> (T-1)//2 + 1)."""

    def __init__(self, channels: int, stride: int = 1):
        super().__init__(channels, channels, (3, 1, 1), stride=(stride, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (0, 0, 0, 0, 1, 1), mode="replicate"))


class InflatedConv(nn.Conv2d):
    """A 2D conv applied to every frame (its weight is the image model's), then a temporal conv (``temporal``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, temporal: bool = True,
                 temporal_stride: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, padding=padding)
        self.temporal = TemporalConv(cout, temporal_stride) if temporal else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, p = self.stride[0], self.padding[0]
        x = F.conv3d(x, self.weight.unsqueeze(2), self.bias, stride=(1, s, s), padding=(0, p, p))
        return self.temporal(x) if self.temporal is not None else x


def _act(x: torch.Tensor, name: str) -> torch.Tensor:
    return ACTIVATIONS[name](x)


class ResnetBlock(nn.Module):
    """diffusers' ResnetBlock2D (no time embedding), inflated."""

    def __init__(self, cin: int, cout: int, groups: int, act_fn: str):
        super().__init__()
        self.act_fn = act_fn
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-6)
        self.conv1 = InflatedConv(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-6)
        self.conv2 = InflatedConv(cout, cout, 3, padding=1)
        self.conv_shortcut = InflatedConv(cin, cout, 1, temporal=False) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_act(frame_norm(self.norm1, x), self.act_fn))
        h = self.conv2(_act(frame_norm(self.norm2, h), self.act_fn))
        return h + (self.conv_shortcut(x) if self.conv_shortcut is not None else x)


class Attention(nn.Module):
    """Single-head attention with GroupNorm and a residual (diffusers' VAE attention): over the pixels of each frame
    (``temporal=False``) or over the frames of each pixel (``temporal=True``)."""

    def __init__(self, channels: int, groups: int, temporal: bool):
        super().__init__()
        self.temporal = temporal
        self.group_norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.to_q, self.to_k, self.to_v = (nn.Linear(channels, channels) for _ in range(3))
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])  # diffusers' key: to_out.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = frame_norm(self.group_norm, x)
        # tokens: (B*T, H*W, C) per frame, or (B*H*W, T, C) per pixel
        tokens = y.permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c) if self.temporal else \
            y.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, c)
        q, k, v = (proj(tokens).unsqueeze(1) for proj in (self.to_q, self.to_k, self.to_v))
        out = self.to_out[0](attention(q, k, v).squeeze(1))
        out = out.reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2) if self.temporal else \
            out.reshape(b, t, h, w, c).permute(0, 4, 1, 2, 3)
        return x + out


class MidBlock(nn.Module):
    def __init__(self, channels: int, groups: int, act_fn: str, add_attention: bool):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock(channels, channels, groups, act_fn) for _ in range(2)])
        self.attentions = nn.ModuleList([Attention(channels, groups, False)] if add_attention else [])
        self.attentions_temporal = nn.ModuleList([Attention(channels, groups, True)] if add_attention else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resnets[0](x)
        for spatial, temporal in zip(self.attentions, self.attentions_temporal, strict=True):
            x = temporal(spatial(x))
        return self.resnets[1](x)


class Downsample(nn.Module):
    """diffusers' Downsample2D (pad right/bottom, 3x3 stride 2), then a stride-2 temporal conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = InflatedConv(channels, channels, 3, stride=2, temporal_stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest x2 in time (T -> 2T-1), height and width, then the inflated 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = InflatedConv(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.repeat_interleave(2, dim=2)[:, :, :-1]
        x = x.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)
        return self.conv(x)


class Block(nn.Module):
    """DownEncoderBlock2D / UpDecoderBlock2D: resnets, then an optional resampler."""

    def __init__(self, cin: int, cout: int, layers: int, groups: int, act_fn: str, down: bool | None):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock(cin if i == 0 else cout, cout, groups, act_fn)
                                      for i in range(layers)])
        self.gradient_checkpointing = False
        if down is True:
            self.downsamplers = nn.ModuleList([Downsample(cout)])
        elif down is False:
            self.upsamplers = nn.ModuleList([Upsample(cout)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in (*self.resnets, *getattr(self, "downsamplers", ()), *getattr(self, "upsamplers", ())):
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        return x


class Encoder(nn.Module):
    def __init__(self, cfg: TAEConfig):
        super().__init__()
        widths, g, act, n = cfg.block_out_channels, cfg.norm_num_groups, cfg.act_fn, len(cfg.block_out_channels)
        self.act_fn = act
        self.conv_in = InflatedConv(cfg.in_channels, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList([Block(widths[max(i - 1, 0)], widths[i], cfg.layers_per_block, g, act,
                                                True if i < n - 1 else None) for i in range(n)])
        self.mid_block = MidBlock(widths[-1], g, act, cfg.mid_block_add_attention)
        self.conv_norm_out = nn.GroupNorm(g, widths[-1], eps=1e-6)
        self.conv_out = InflatedConv(widths[-1], 2 * cfg.latent_channels, 3, padding=1)  # mean and logvar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for block in self.down_blocks:
            x = block(x)
        x = self.mid_block(x)
        return self.conv_out(_act(frame_norm(self.conv_norm_out, x), self.act_fn))


class Decoder(nn.Module):
    def __init__(self, cfg: TAEConfig):
        super().__init__()
        widths, g, act, n = cfg.block_out_channels[::-1], cfg.norm_num_groups, cfg.act_fn, len(cfg.block_out_channels)
        self.act_fn = act
        self.conv_in = InflatedConv(cfg.latent_channels, widths[0], 3, padding=1)
        self.mid_block = MidBlock(widths[0], g, act, cfg.mid_block_add_attention)
        self.up_blocks = nn.ModuleList([Block(widths[max(i - 1, 0)], widths[i], cfg.layers_per_block + 1, g, act,
                                              False if i < n - 1 else None) for i in range(n)])
        self.conv_norm_out = nn.GroupNorm(g, widths[-1], eps=1e-6)
        self.conv_out = InflatedConv(widths[-1], cfg.out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.mid_block(self.conv_in(z))
        for block in self.up_blocks:
            x = block(x)
        return self.conv_out(_act(frame_norm(self.conv_norm_out, x), self.act_fn))


# --------------------------------------------------------------------------------------------------------------------
# The posterior and the autoencoder


class DiagonalGaussian:
    """q(z|x) = N(mean, exp(logvar)) from the encoder's 2C channels [mean; logvar] (as HunyuanVideo's VAE)."""

    def __init__(self, moments: torch.Tensor):
        self.mean, logvar = moments.chunk(2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        device = generator.device if generator is not None else self.mean.device
        eps = torch.randn(self.mean.shape, generator=generator, device=device, dtype=self.mean.dtype)
        return self.mean + self.std * eps.to(self.mean.device)

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per sample, summed over every non-batch dimension."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).flatten(1).sum(1)


def _ramp(n: int, overlap: int, first: bool, last: bool, like: torch.Tensor) -> torch.Tensor:
    """Blend weights (n,) of a decoded tile: rising over its first ``overlap`` frames unless it is the first tile,
    falling over its last ones unless it is the last."""
    i = torch.arange(n, dtype=torch.float64)
    w = torch.ones(n, dtype=torch.float64)
    if not first:
        w = torch.minimum(w, (i + 1) / (overlap + 1))
    if not last:
        w = torch.minimum(w, (n - i) / (overlap + 1))
    return w.to(like.device, like.dtype)


class MovieGenTAE(nn.Module):
    """``encode(video) -> DiagonalGaussian`` over raw latents; ``decode(raw latents) -> video`` in about [-1, 1]."""

    def __init__(self, config: TAEConfig | dict | None = None):
        super().__init__()
        config = TAEConfig.from_dict(config) if isinstance(config, dict) else (config or TAEConfig())
        self.config = cfg = config
        c = cfg.latent_channels
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = nn.Conv3d(2 * c, 2 * c, 1) if cfg.use_quant_conv else None
        self.post_quant_conv = nn.Conv3d(c, c, 1) if cfg.use_post_quant_conv else None
        self.spatial_compression_ratio = self.temporal_compression_ratio = cfg.compression
        self.use_temporal_tiling = True
        self.use_tiling = False  # spatial tiling does not exist here; the sample stage may set the flag

    @classmethod
    def from_pretrained(cls, folder: str | Path, dtype: torch.dtype | None = None, device="cpu") -> MovieGenTAE:
        from vgen.io.folders import load_module

        return load_module(cls, TAEConfig, Path(folder), device, dtype)

    def enable_gradient_checkpointing(self, enabled: bool = True) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = enabled

    # ---- encode ---------------------------------------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """Video (B, C, r*k+1, H, W) in [-1, 1] -> posterior over raw latents (B, latent, k+1, H/r, W/r)."""
        cfg, r = self.config, self.config.compression
        if x.ndim != 5 or x.shape[1] != cfg.in_channels:
            raise UserError(f"TAE encode expects a (batch, {cfg.in_channels}, frames, height, width) video, got "
                            f"shape {tuple(x.shape)}")
        check_frames(x.shape[2], r)
        if x.shape[3] % r or x.shape[4] % r:
            raise UserError(f"video height and width must be multiples of {r}, got {x.shape[3]}x{x.shape[4]}")
        tile = cfg.tile_frames
        if not self.use_temporal_tiling or x.shape[2] <= tile + 1:
            return DiagonalGaussian(self._encode(x))
        # tiles of `tile` frames and their boundary frame (tile/r + 1 latents); later tiles drop their first latent,
        # which the previous tile made from the same frame
        parts = [self._encode(x[:, :, s:s + tile + 1]) for s in range(0, x.shape[2] - 1, tile)]
        return DiagonalGaussian(torch.cat([parts[0]] + [p[:, :, 1:] for p in parts[1:]], dim=2))

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)
        return self.quant_conv(h) if self.quant_conv is not None else h

    # ---- decode ---------------------------------------------------------------------------------------------------

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latents (B, latent, k+1, h, w) -> video (B, C, r*k+1, r*h, r*w)."""
        cfg, r = self.config, self.config.compression
        if z.ndim != 5 or z.shape[1] != cfg.latent_channels:
            raise UserError(f"TAE decode expects latents (batch, {cfg.latent_channels}, frames, height, width), got "
                            f"shape {tuple(z.shape)}")
        size, stride = cfg.tile_frames // r + 1, (cfg.tile_frames - cfg.tile_overlap) // r
        if not self.use_temporal_tiling or z.shape[2] <= size:
            return self._decode(z)
        return self._decode_tiled(z, size, stride)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(z) if self.post_quant_conv is not None else z)

    def _decode_tiled(self, z: torch.Tensor, size: int, stride: int) -> torch.Tensor:
        """Overlapping latent tiles of ``size`` latents every ``stride``; each decoded tile is weighted by a linear
        ramp over the frames it shares with its neighbours, and the sum is divided by the summed weights."""
        r, n = self.config.compression, z.shape[2]
        starts = range(0, n - size + stride, stride)  # the last one reaches the end
        out = weights = None
        for i, s in enumerate(starts):
            tile = self._decode(z[:, :, s:s + size])
            last = s + size >= n
            w = _ramp(tile.shape[2], self.config.tile_overlap, i == 0, last, tile).view(1, 1, -1, 1, 1)
            if out is None:
                out = tile.new_zeros(*tile.shape[:2], (n - 1) * r + 1, *tile.shape[3:])
                weights = tile.new_zeros(1, 1, out.shape[2], 1, 1)
            a = s * r
            out[:, :, a:a + tile.shape[2]] += tile * w
            weights[:, :, a:a + tile.shape[2]] += w
            if last:
                break
        return out / weights

    # ---- training ---------------------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, sample_posterior: bool = False,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, DiagonalGaussian]:
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z), posterior
