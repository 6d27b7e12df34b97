"""DiT step time and parity: torch eager vs AOTInductor vs onnxruntime (CUDA provider when present).

    python benchmarks/export_dit.py                      # mid-size HunyuanVideo-style DiT on the GPU (fp16)
    python benchmarks/export_dit.py --preset tiny        # the tiny config; what a CPU can check in a minute

The DiT is exported through the same path as ``vgen export`` (capture from the pipeline, parity gate at two sizes),
then each engine runs the same random step inputs; the table names the device and reports ms per DiT forward and
the max abs / relative error against eager.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

# mid: 1536 wide (12 heads x 128, the 13B's head layout and RoPE split), 4 dual + 8 single blocks, 16 latent channels
MID = {"preset": "tiny",
       "transformer": {"in_channels": 16, "out_channels": 16, "num_attention_heads": 12, "attention_head_dim": 128,
                       "num_layers": 4, "num_single_layers": 8, "num_refiner_layers": 2, "mlp_ratio": 4.0,
                       "text_embed_dim": 1024, "pooled_projection_dim": 32, "rope_axes_dim": [16, 56, 56]},
       "vae": {"latent_channels": 16},
       "text_encoder": {"hidden_size": 1024, "intermediate_size": 2048, "num_attention_heads": 8,
                        "num_key_value_heads": 4}}
SIZES = {  # (latent frames, latent height, latent width, text tokens): 8x32x48 latents = 3072 video tokens
    "mid": [{"batch": 1, "frames": 8, "height": 32, "width": 48, "text_len": 128},
            {"batch": 2, "frames": 4, "height": 16, "width": 24, "text_len": 77}],
    "tiny": [{"batch": 1, "frames": 2, "height": 4, "width": 6, "text_len": 8},
             {"batch": 2, "frames": 3, "height": 6, "width": 4, "text_len": 13}],
}


def timed(fn, inputs, device, warmup: int, iters: int) -> tuple[float, torch.Tensor]:
    with torch.no_grad():
        for _ in range(warmup):
            out = fn(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iters):
            out = fn(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters * 1000, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=["mid", "tiny"], default=None, help="default: mid on CUDA, tiny on CPU")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=["fp32", "fp16"], default=None, help="default: fp16 on CUDA, fp32 on CPU")
    ap.add_argument("--engines", default="eager,aoti,onnx")
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="keep the engine directories here")
    args = ap.parse_args()

    from vgen_export.core.capture import pipeline_parts
    from vgen_export.core.exporting import _runner, export_parts
    from vgen_export.core.parity import errors
    from vgen_export.core.parts import DTYPES
    from vgen_plugins.hunyuan_video.pipeline import build

    device = torch.device(args.device)
    preset = args.preset or ("mid" if device.type == "cuda" else "tiny")
    dtype = args.dtype or ("fp16" if device.type == "cuda" else "fp32")
    iters = args.iters or (20 if device.type == "cuda" else 5)
    engines = [e.strip() for e in args.engines.split(",")]
    torch.manual_seed(0)
    pipe = build(config=MID if preset == "mid" else "tiny", device=device)
    part = pipeline_parts(pipe, ["dit"], device=device)[0]
    params = sum(p.numel() for p in pipe.transformer.parameters())
    shapes = SIZES[preset]
    out = args.out or Path(tempfile.mkdtemp(prefix="vgen-export-bench-"))

    runners, export_s = {}, {}
    for engine in engines:
        if engine == "eager":
            continue
        start = time.perf_counter()
        manifest = export_parts([part], engine, out / engine, dtype=dtype, device=device, shapes=shapes,
                                tolerance=1e9)  # the table reports the error; do not stop here
        export_s[engine] = time.perf_counter() - start
        runners[engine] = _runner(engine, out / engine, manifest["parts"]["dit"], device)
    part.cast(DTYPES[dtype]).module.to(device).eval()
    inputs = part.make_inputs(shapes[0], device=device, generator=torch.Generator().manual_seed(1))
    eager_ms, want = timed(lambda x: part.module(*x), inputs, device, 2, iters)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    dims = shapes[0]
    print(f"\nDiT step, {preset} config ({params / 1e6:.2f}M parameters), {dtype}, device: {name}")
    print(f"latents {dims['batch']}x{pipe.latent_channels}x{dims['frames']}x{dims['height']}x{dims['width']}, "
          f"{dims['text_len']} text tokens; torch {torch.__version__}\n")
    print("| engine | runs on | ms / step | speed-up | max abs err | max rel err | export s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| torch eager | {device.type} | {eager_ms:.2f} | 1.00x | 0 | 0 | - |")
    for engine, runner in runners.items():
        ms, got = timed(runner, inputs, device, 2, iters)
        max_abs, max_rel = errors(got, want)
        print(f"| {engine} | {runner.provider} | {ms:.2f} | {eager_ms / ms:.2f}x | {max_abs:.2e} | {max_rel:.2e} "
              f"| {export_s[engine]:.0f} |")
    print(f"\nengine directories: {out}")


if __name__ == "__main__":
    main()
