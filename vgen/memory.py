"""A memory estimate before work starts: a request that cannot fit the device (or the machine's RAM on the CPU) is
refused at once, in one line that gives the estimate and the nearest size that fits.

The estimate is deliberately coarse and generic (vgen names no model): the decoded video (float copies + the
uint8 result), the VAE decoder's widest activations (one tile when tiled), and attention over the latent tokens --
O(tokens) with the fused kernels of a GPU, but the CPU (and any masked attention there) materializes the
tokens x tokens score matrix. Sizes that pass may still be slow; sizes refused could not have finished.
"""

from __future__ import annotations

import os

from vgen.errors import UserError

_PIXEL_BYTES = 3 * 4 * 2 + 3  # float32 RGB video twice (decoder output, clamped copy) + the uint8 frames
_DECODER_BYTES = 64 * 4 * 2  # the decoder's widest activations: ~64 fp32 channels in and out, per pixel
_TOKEN_BYTES = 4096 * 4 * 8  # per latent token in the DiT: hidden states, q/k/v, MLP (width up to 4096, fp32)


def available_bytes(device) -> int:
    """What the device holds: a GPU's total memory, the machine's RAM on the CPU."""
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not a POSIX machine
        return 1 << 62


def video_bytes(pipe, batch: int, frames: int, height: int, width: int, device_type: str, tile_above: int,
                tiled: bool) -> int:
    """The peak memory estimate of sampling ``batch`` videos of this size with ``pipe``."""
    pixels = batch * frames * height * width
    decoder = min(pixels, tile_above) if tiled else pixels
    tc = max(1, int(getattr(pipe, "temporal_compression", 4)))
    m = max(1, int(getattr(pipe, "size_multiple", 16)))
    tokens = ((frames - 1) // tc + 1) * max(1, height // m) * max(1, width // m)
    attention = batch * tokens * tokens * 4 if device_type != "cuda" else 0
    return pixels * _PIXEL_BYTES + decoder * _DECODER_BYTES + batch * tokens * _TOKEN_BYTES + attention


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_video_fits(pipe, batch: int, frames: int, height: int, width: int, device, tile_above: int,
                     tiling: str = "auto", what: str = "sampling") -> None:
    """Refuse (one line) a size whose estimate exceeds what ``device`` holds, naming the nearest size that fits."""
    dtype = getattr(device, "type", str(device))
    limit = available_bytes(device)

    def need(f, h, w):
        tiled = tiling == "on" or (tiling == "auto" and f * h * w > tile_above)
        return video_bytes(pipe, batch, f, h, w, dtype, tile_above, tiled)

    def need_batch(b):
        tiled = tiling == "on" or (tiling == "auto" and frames * height * width > tile_above)
        return video_bytes(pipe, b, frames, height, width, dtype, tile_above, tiled)

    est = need(frames, height, width)
    if est <= limit:
        return
    tc = max(1, int(getattr(pipe, "temporal_compression", 4)))
    m = max(1, int(getattr(pipe, "size_multiple", 16)))
    fit = None
    if batch > 1 and need_batch(1) <= limit:  # fewer videos at once: the largest batch that fits
        lo, hi = 1, batch - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if need_batch(mid) <= limit else (lo, mid - 1)
        fit = f"--batch-size {lo}"
    if fit is None:
        fit = _fewer_frames_or_pixels(need, frames, height, width, tc, m, limit)
    hint = f"; nearest that fits: {fit}" if fit else ""
    where = "the GPU" if dtype == "cuda" else "this machine's RAM"
    raise UserError(f"{what} {batch}x{frames}x{height}x{width} needs about {_gb(est)}, more than {where} holds "
                    f"({_gb(limit)}){hint}")


def _fewer_frames_or_pixels(need, frames: int, height: int, width: int, tc: int, m: int, limit: int) -> str | None:
    """The most frames (tc*k+1) that fit at this size, else the largest size that fits one frame."""
    f = (frames - 1) // tc * tc + 1
    while f > 1 and need(f, height, width) > limit:  # halving, then step by step back up
        f = max(1, ((f - 1) // 2) // tc * tc + 1)
    if need(f, height, width) <= limit:
        while f + tc <= frames and need(f + tc, height, width) <= limit:
            f += tc
        return f"--frames {f} at {height}x{width}"
    h, w = height, width
    while (h > m or w > m) and need(1, h, w) > limit:
        h, w = max(m, h // 2 // m * m), max(m, w // 2 // m * m)
    return f"{h}x{w} with --frames 1" if need(1, h, w) <= limit else None
