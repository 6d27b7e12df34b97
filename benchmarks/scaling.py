"""Sequence-parallel scaling of the HunyuanVideo DiT: seconds per denoising step and tokens/s per GPU at N = 1, 2, 4,
8 ranks (every power of two up to what torchrun gives), efficiency relative to N = 1, and the relative error of
each N's output against the N = 1 output.

One launch measures every N: ranks 0..N-1 form a group and run one DiT forward (one denoising step of a
guidance-distilled model) Ulysses-parallel over it (hunyuan_video.parallel) while the others wait.

    # the issue's target: 13B DiT, 720x1280, 129 frames (latent 33x90x160), bf16, on one 8-GPU host
    torchrun --nproc-per-node 8 benchmarks/scaling.py
    # CPU smoke run (gloo)
    OMP_NUM_THREADS=1 torchrun --nproc-per-node 2 benchmarks/scaling.py --config tiny --frames 5 --height 64 \
        --width 64 --steps 1 --warmup 0 --dtype fp32

Weights are random (the timing does not depend on their values); ``--config`` is a preset (13b, tiny) or a JSON
dict of transformer config overrides on top of the 13B, e.g. '{"num_layers": 4, "num_single_layers": 8}'.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time

import torch
import torch.distributed as dist

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", default="13b", help="13b | tiny | JSON transformer config overrides (on the 13B)")
    p.add_argument("--frames", type=int, default=129)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--text-tokens", type=int, default=256, help="text tokens (all valid, as for a long prompt)")
    p.add_argument("--batch", type=int, default=1, help="2 = a batched true-CFG step")
    p.add_argument("--steps", type=int, default=3, help="timed steps per N (the median is reported)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    p.add_argument("--sizes", default=None, help="comma-separated N to measure (default: powers of 2 up to world)")
    p.add_argument("--attention", default=None, help="attention backend (sdpa, flash, math)")
    p.add_argument("--json", default=None, help="also write the table as JSON here (rank 0)")
    return p.parse_args(argv)


def transformer_config(name: str) -> dict:
    from vgen_plugins.hunyuan_video.pipeline import PRESETS

    if name in PRESETS:
        return dict(PRESETS[name]["transformer"])
    return json.loads(name)


def build_model(config: dict, device: torch.device, dtype: torch.dtype):
    from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel

    with torch.device("meta"):
        model = HunyuanVideoTransformer3DModel(config)
    model = model.to_empty(device=device).to(dtype).eval().requires_grad_(False)
    torch.manual_seed(0)  # the same weights on every rank
    for p in model.parameters():
        p.normal_(0, 0.02) if p.dim() > 1 else p.zero_()
    return model


def make_inputs(cfg, args, device, dtype) -> dict:
    g = torch.Generator().manual_seed(1)
    t, h, w = (args.frames - 1) // 4 + 1, args.height // 8, args.width // 8
    b = args.batch

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(device, dtype)

    inputs = dict(hidden_states=rand(b, cfg.in_channels, t, h, w), timestep=torch.full((b,), 500.0, device=device),
                  encoder_hidden_states=rand(b, args.text_tokens, cfg.text_embed_dim),
                  encoder_attention_mask=torch.ones(b, args.text_tokens, dtype=torch.bool, device=device),
                  pooled_projections=rand(b, cfg.pooled_projection_dim))
    if cfg.guidance_embeds:
        inputs["guidance"] = torch.full((b,), 6000.0, device=device)
    return inputs


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_names(world: int, device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    names = [name]
    if world > 1:
        names = [None] * world
        dist.all_gather_object(names, name)
    counts = {n: names.count(n) for n in dict.fromkeys(names)}
    return ", ".join(f"{c}x {n}" for n, c in counts.items())


def main(argv=None) -> list[dict]:
    from vgen_plugins.hunyuan_video.parallel import sequence_parallel

    from vgen.distributed.groups import init_from_env
    from vgen.nn.attention import attention_backend

    args = parse(argv)
    rank, world, device = init_from_env()
    dtype = DTYPES[args.dtype]
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else [n for n in (1, 2, 4, 8, 16) if n <= world]
    if any(n > world for n in sizes):
        raise SystemExit(f"--sizes {args.sizes}: only {world} processes")
    model = build_model(transformer_config(args.config), device, dtype)
    cfg = model.config
    inputs = make_inputs(cfg, args, device, dtype)
    grid = inputs["hidden_states"].shape[2:]
    tokens = grid[0] * (grid[1] // cfg.patch_size) * (grid[2] // cfg.patch_size) // cfg.patch_size_t
    gpus = device_names(world, device)
    rows, reference = [], None
    for n in sizes:
        group = dist.new_group(list(range(n))) if world > 1 else None  # every rank creates every group
        if rank < n:
            parallel = sequence_parallel(model, group) if n > 1 else contextlib.nullcontext()
            with attention_backend(args.attention or "sdpa"), parallel:
                times = []
                for i in range(args.warmup + args.steps):
                    sync(device)
                    t0 = time.perf_counter()
                    with torch.no_grad():
                        out = model(**inputs)
                    sync(device)
                    if i >= args.warmup:
                        times.append(time.perf_counter() - t0)
            seconds = statistics.median(times)
            if rank == 0:
                out = out.float()
                reference = out if n == sizes[0] else reference
                rel = float((out - reference).norm() / reference.norm().clamp_min(1e-12))
                rows.append(dict(n=n, s_per_step=seconds, tokens_per_s_per_gpu=args.batch * tokens / seconds / n,
                                 rel_err_vs_first=rel))
            del out
        if world > 1:
            dist.barrier()
    if rank == 0:
        base = rows[0]["s_per_step"] * rows[0]["n"]
        for row in rows:
            row["speedup"] = rows[0]["s_per_step"] / row["s_per_step"]
            row["time_vs_first"] = row["s_per_step"] / rows[0]["s_per_step"]
            row["efficiency"] = base / (row["n"] * row["s_per_step"])
        print_table(rows, args, cfg, model, tokens, gpus, dtype)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"gpus": gpus, "config": args.config, "video": [args.frames, args.height, args.width],
                           "latent": list(grid), "tokens": tokens, "dtype": args.dtype, "rows": rows}, f, indent=2)
    if world > 1:
        dist.destroy_process_group()
    return rows


def print_table(rows, args, cfg, model, tokens, gpus, dtype) -> None:
    n = sum(p.numel() for p in model.parameters())
    params = f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M"
    t, h, w = (args.frames - 1) // 4 + 1, args.height // 8, args.width // 8
    print(f"HunyuanVideo DiT {params} params ({args.config}), {args.frames}x{args.height}x{args.width} -> "
          f"latent {t}x{h}x{w}, {tokens} video + {args.text_tokens} text tokens, batch {args.batch}, "
          f"{str(dtype).replace('torch.', '')}, {cfg.num_attention_heads} heads")
    print(f"GPUs: {gpus}; median of {args.steps} steps after {args.warmup} warm-up")
    head = f"{'N':>3} {'s/step':>10} {'tokens/s/GPU':>14} {'speedup':>8} {'time vs N=' + str(rows[0]['n']):>12} " \
           f"{'efficiency':>10} {'rel err':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['n']:>3} {r['s_per_step']:>10.4f} {r['tokens_per_s_per_gpu']:>14.1f} {r['speedup']:>8.2f} "
              f"{r['time_vs_first']:>12.3f} {r['efficiency']:>10.1%} {r['rel_err_vs_first']:>9.2e}")


if __name__ == "__main__":
    main()
