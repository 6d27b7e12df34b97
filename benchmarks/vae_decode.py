"""HunyuanVideo VAE decode: vgen vs diffusers' AutoencoderKLHunyuanVideo, same weights, one process, one device.

Default: the released VAE's configuration (random weights) in bf16 decoding a 16x60x106 latent (61 frames of
480x848). diffusers builds first (random init on the device); vgen's VAE is built on the meta device and takes the
very same tensors. Each mode decodes the same latent with both:

- ``tiled``: ``enable_tiling()`` (256-px tiles at stride 192, 16-frame chunks at stride 12): what diffusers' docs run
  with HunyuanVideoPipeline, and what vgen sample does above its tiling threshold;
- ``frames``: frame chunks only (both libraries' default without ``enable_tiling``);
- ``untiled``: the whole latent at once (no chunks); a mode that does not fit says OOM in its row.

Times are medians of ``--iters`` calls after ``--warmup``; peak is ``torch.cuda.max_memory_allocated`` during the
calls (weights included); max|diff| is against diffusers' frames of the same mode, also as a fraction of their range.

    python benchmarks/vae_decode.py                                   # GPU, bf16, tiled + untiled
    python benchmarks/vae_decode.py --modes tiled --cudnn-benchmark   # cudnn autotuning on for both
    python benchmarks/vae_decode.py --tiny                            # CPU smoke run in seconds
    python benchmarks/vae_decode.py --out benchmarks/results/vae_decode_h100.md
"""

from __future__ import annotations

import argparse
import sys

import torch
from speed_common import DTYPES, on_device, pick_device, repeat, report, say

MODES = ("tiled", "frames", "untiled")
COLUMNS = ["mode", "impl", "median s", "min s", "first s", "peak GiB", "x diffusers time", "max abs diff",
           "diff / range"]
TINY = {"vae": dict(block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=4),
        "tiles": dict(tile_sample_min_height=32, tile_sample_min_width=32, tile_sample_min_num_frames=8,
                      tile_sample_stride_height=24, tile_sample_stride_width=24, tile_sample_stride_num_frames=4)}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latent", default="16x60x106", help="latent frames x height x width (FxHxW)")
    ap.add_argument("--modes", default="tiled,untiled", help=f"comma-separated, of {', '.join(MODES)}")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="default bf16 (fp32 with --tiny)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--only", choices=["both", "vgen", "diffusers"], default="both")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True (both)")
    ap.add_argument("--channels-last", action="store_true", help="channels_last_3d weights and latent (both)")
    ap.add_argument("--tiny", action="store_true", help="an 8-wide VAE, a 5x6x8 latent, small tiles: CPU, seconds")
    ap.add_argument("--out", help="append the table to this markdown file")
    a = ap.parse_args(argv)
    try:
        a.latent = tuple(int(v) for v in a.latent.lower().split("x"))
        assert len(a.latent) == 3 and min(a.latent) > 0
    except (ValueError, AssertionError):
        ap.error(f"--latent must be FxHxW positive integers, got {a.latent!r}")
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    bad = [m for m in a.modes if m not in MODES]
    if bad or not a.modes:
        ap.error(f"--modes: unknown {bad[0]!r}; known: {', '.join(MODES)}" if bad else "--modes: none given")
    if a.tiny and a.latent == (16, 60, 106):
        a.latent = (5, 6, 8)
    a.dtype = a.dtype or ("fp32" if a.tiny else "bf16")
    return a


def build(a, device, dtype):
    """(diffusers VAE, vgen VAE) holding the same weight tensors."""
    from diffusers import AutoencoderKLHunyuanVideo as DiffusersVAE
    from vgen_plugins.hunyuan_video.vae import AutoencoderKLHunyuanVideo

    config = dict(TINY["vae"]) if a.tiny else {}
    reference = on_device(lambda: DiffusersVAE(**config), device, dtype)
    with torch.device("meta"):
        mine = AutoencoderKLHunyuanVideo(config)
    mine.load_state_dict(reference.state_dict(), strict=True, assign=True)
    mine.eval().requires_grad_(False)
    if a.channels_last:
        for vae in (reference, mine):
            vae.to(memory_format=torch.channels_last_3d)
    return reference, mine


def set_mode(reference, mine, mode: str, tiles: dict) -> None:
    reference.use_framewise_decoding = mode != "untiled"
    if mode == "tiled":
        reference.enable_tiling(**tiles)
        mine.enable_tiling(**tiles)
    else:
        reference.disable_tiling()
        mine.disable_tiling(temporal=mode == "untiled")
        if tiles:  # the frame chunk size (--tiny's is small) without spatial tiles
            mine.tile_sample_min_num_frames = reference.tile_sample_min_num_frames = tiles["tile_sample_min_num_frames"]
            mine.tile_sample_stride_num_frames = reference.tile_sample_stride_num_frames = \
                tiles["tile_sample_stride_num_frames"]


def run_mode(a, mode, reference, mine, z, device) -> list[list]:
    set_mode(reference, mine, mode, TINY["tiles"] if a.tiny else {})
    calls = {"diffusers": lambda: reference.decode(z, return_dict=False)[0], "vgen": lambda: mine.decode(z)}
    results, rows = {}, []
    for impl in ("diffusers", "vgen"):
        if a.only not in ("both", impl):
            continue
        say("vae_decode", f"{mode}: {impl}")
        try:
            with torch.inference_mode():
                r = repeat(calls[impl], device, a.warmup, a.iters)
            r["out"] = r["out"].float().cpu()
            results[impl] = r
        except torch.OutOfMemoryError:
            results[impl] = None
            rows.append([mode, impl, "OOM", "-", "-", "-", "-", "-", "-"])
        if device.type == "cuda":
            torch.cuda.empty_cache()
    ref = results.get("diffusers")
    for impl, r in results.items():
        if r is None:
            continue
        ratio = diff = frac = float("nan")
        if ref is not None:
            ratio = r["median"] / ref["median"]
            diff = (r["out"] - ref["out"]).abs().max().item()
            frac = diff / max((ref["out"].max() - ref["out"].min()).item(), 1e-12)
        rows.append([mode, impl, r["median"], r["min"], r["first"], r["peak"], ratio, diff, frac])
    return rows


def main(argv=None) -> int:
    a = parse_args(argv)
    device, dtype = pick_device(a.device), DTYPES[a.dtype]
    if a.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    reference, mine = build(a, device, dtype)
    f, h, w = a.latent
    channels = reference.config.latent_channels
    z = torch.randn(1, channels, f, h, w, generator=torch.Generator().manual_seed(0)).to(device, dtype)
    if a.channels_last:
        z = z.contiguous(memory_format=torch.channels_last_3d)
    rows = []
    for mode in a.modes:
        rows += run_mode(a, mode, reference, mine, z, device)
    frames, height, width = 4 * (f - 1) + 1, 8 * h, 8 * w
    params = sum(p.numel() for p in reference.parameters())
    title = (f"HunyuanVideo VAE decode{' (tiny config)' if a.tiny else ''}, {params / 1e6:.1f}M params, {a.dtype}, "
             f"latent 1x{channels}x{f}x{h}x{w} -> {frames}x{height}x{width}, cudnn.benchmark={a.cudnn_benchmark}, "
             f"channels_last_3d={a.channels_last}, {a.iters} timed calls after {a.warmup} warm-up")
    report(title, device, COLUMNS, rows, a.out, __file__, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
