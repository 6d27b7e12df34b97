"""One forward of the HunyuanVideo DiT: vgen vs diffusers, side by side in one process on the same device.

Default: the full 13B DiT in bf16 at a 16x60x106 latent (61 frames, 480x848) with 256 text tokens, random weights.
diffusers builds first (random init on the device), is timed, then vgen is built on the meta device and takes the
very same weight tensors (``load_state_dict(assign=True)``: no second copy), diffusers is freed and vgen is timed.
Times are CUDA-event medians after warm-up; peak memory is ``torch.cuda.max_memory_allocated`` (weights included).

    python benchmarks/hunyuan_dit.py                    # 13B, GPU
    python benchmarks/hunyuan_dit.py --compile          # torch.compile of the repeated blocks, both models
    python benchmarks/hunyuan_dit.py --valid-tokens 60  # a short prompt padded to 256 tokens
    python benchmarks/hunyuan_dit.py --device cpu --dtype fp32 --layers 1 --single-layers 1 --heads 2 \\
        --head-dim 16 --text-dim 32 --pooled-dim 16 --frames 2 --height 4 --width 6 --text-tokens 8  # smoke test

diffusers is the reference here only; vgen's runtime never imports it.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=20, help="dual-stream blocks")
    ap.add_argument("--single-layers", type=int, default=40, help="single-stream blocks")
    ap.add_argument("--refiner-layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=24)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--text-dim", type=int, default=4096)
    ap.add_argument("--pooled-dim", type=int, default=768)
    ap.add_argument("--channels", type=int, default=16, help="latent channels")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--frames", type=int, default=16, help="latent frames")
    ap.add_argument("--height", type=int, default=60, help="latent height")
    ap.add_argument("--width", type=int, default=106, help="latent width")
    ap.add_argument("--text-tokens", type=int, default=256)
    ap.add_argument("--valid-tokens", type=int, default=None, help="real tokens per prompt (rest is padding)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="torch.compile the repeated blocks (fullgraph)")
    ap.add_argument("--only", choices=["both", "vgen", "diffusers"], default="both")
    return ap.parse_args(argv)


def rope_axes(head_dim: int) -> tuple[int, int, int]:
    """(16, 56, 56) for 128; otherwise an even split with time taking about 1/8."""
    if head_dim == 128:
        return (16, 56, 56)
    t = 2 * max(1, head_dim // 16)
    h = (head_dim - t) // 4 * 2
    return (t, h, head_dim - t - h)


def model_config(a) -> dict:
    return dict(in_channels=a.channels, out_channels=a.channels, num_attention_heads=a.heads,
                attention_head_dim=a.head_dim, num_layers=a.layers, num_single_layers=a.single_layers,
                num_refiner_layers=a.refiner_layers, text_embed_dim=a.text_dim, pooled_projection_dim=a.pooled_dim,
                rope_axes_dim=rope_axes(a.head_dim), guidance_embeds=True)


def make_inputs(a, device, dtype) -> dict:
    g = torch.Generator().manual_seed(0)
    valid = a.text_tokens if a.valid_tokens is None else a.valid_tokens
    mask = torch.zeros(a.batch, a.text_tokens, dtype=torch.long)
    mask[:, :valid] = 1
    tensors = dict(
        hidden_states=torch.randn(a.batch, a.channels, a.frames, a.height, a.width, generator=g),
        timestep=torch.full((a.batch,), 900.0),
        encoder_hidden_states=torch.randn(a.batch, a.text_tokens, a.text_dim, generator=g),
        encoder_attention_mask=mask,
        pooled_projections=torch.randn(a.batch, a.pooled_dim, generator=g),
        guidance=torch.full((a.batch,), 6000.0),
    )
    return {k: v.to(device, dtype if v.is_floating_point() and k not in ("timestep", "guidance") else None)
            for k, v in tensors.items()}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(fn, device, warmup: int, iters: int) -> dict:
    """First call (compile included), then median/min of ``iters`` timed calls after ``warmup`` more."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    first = time.perf_counter() - start
    for _ in range(max(warmup - 1, 0)):
        fn()
    times = []
    for _ in range(iters):
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(begin.elapsed_time(end) / 1000)
        else:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan")
    return dict(out=out.float().cpu(), first=first, median=statistics.median(times), min=min(times), peak=peak)


def tflop(a, params: int) -> float:
    """2 * params * tokens + 4 * tokens^2 * width * layers (the estimate in shared/design/hunyuan_video.md)."""
    tokens = a.frames * (a.height // 2) * (a.width // 2) + a.text_tokens
    return a.batch * (2 * params * tokens + 4 * tokens**2 * a.heads * a.head_dim * (a.layers + a.single_layers)) / 1e12


def main(argv=None) -> None:
    a = parse_args(argv)
    from diffusers import HunyuanVideoTransformer3DModel as DiffusersDiT
    from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel

    device, dtype = torch.device(a.device), DTYPES[a.dtype]
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    config = model_config(a)
    inputs = make_inputs(a, device, dtype)
    results = {}

    # diffusers: random init directly on the device, in the target dtype
    torch.manual_seed(0)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            reference = DiffusersDiT(**config).eval().requires_grad_(False)
    finally:
        torch.set_default_dtype(default_dtype)
    params = sum(p.numel() for p in reference.parameters())
    if a.only in ("both", "diffusers"):
        if a.compile:
            reference.compile_repeated_blocks(fullgraph=True)
        with torch.inference_mode():
            results["diffusers"] = time_forward(lambda m=reference: m(**inputs, return_dict=False)[0], device,
                                                a.warmup, a.iters)

    # vgen: built on meta, takes diffusers' tensors as its parameters (same weights, no copy), diffusers freed
    state = {k: v for k, v in reference.state_dict().items()}
    del reference
    gc.collect()
    with torch.device("meta"):
        model = HunyuanVideoTransformer3DModel(config)
    model.load_state_dict(state, strict=True, assign=True)
    model.eval().requires_grad_(False)
    del state
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if a.only in ("both", "vgen"):
        if a.compile:
            model.compile_repeated_blocks(fullgraph=True)
        with torch.inference_mode():
            results["vgen"] = time_forward(lambda: model(**inputs), device, a.warmup, a.iters)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    valid = a.text_tokens if a.valid_tokens is None else a.valid_tokens
    print(f"\nHunyuanVideo DiT, {params:,} params ({a.layers} dual + {a.single_layers} single blocks, "
          f"{a.heads}x{a.head_dim}), {a.dtype}, latent {a.batch}x{a.channels}x{a.frames}x{a.height}x{a.width}, "
          f"{a.text_tokens} text tokens ({valid} valid), compile={a.compile}")
    print(f"device: {name}; torch {torch.__version__}\n")
    print("| impl | median s | min s | first call s | peak GiB | TFLOP/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    flops = tflop(a, params)
    for impl, r in results.items():
        print(f"| {impl} | {r['median']:.4f} | {r['min']:.4f} | {r['first']:.2f} | {r['peak']:.2f} | "
              f"{flops / r['median']:.0f} |")
    if len(results) == 2:
        ref, out = results["diffusers"]["out"], results["vgen"]["out"]
        rel = ((out - ref).abs().max() / ref.abs().max()).item()
        speedup = results["diffusers"]["median"] / results["vgen"]["median"]
        print(f"\nvgen speed-up {speedup:.3f}x; max|vgen - diffusers| / max|diffusers| = {rel:.2e} ({a.dtype})")


if __name__ == "__main__":
    main()
