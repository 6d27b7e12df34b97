"""MovieGen DiT: the 30B model's size, its memory plan on 1 and 8 80 GB GPUs at the paper's 73K-token context (an
estimate, computed), and a measured forward at that context on one GPU (the 30B width with ``--layers`` of its 48
blocks, bf16; the 48-block time is that per block x 48 -- the blocks are identical).

    python benchmarks/moviegen_dit.py                  # GPU: plan + forward at 73,728 tokens
    python benchmarks/moviegen_dit.py --smoke          # CPU: the same code at a tiny size (tests run this)
"""

from __future__ import annotations

import argparse
import json
import time

import torch

GB = 1e9


def parameter_count() -> dict:
    """Parameters of the 30B config (meta device: nothing allocated), by part."""
    from vgen_plugins.moviegen.transformer import MovieGenTransformer, MovieGenTransformerConfig

    with torch.device("meta"):
        dit = MovieGenTransformer(MovieGenTransformerConfig())
    blocks = sum(p.numel() for p in dit.blocks.parameters())
    total = dit.num_parameters()
    return {"total": total, "blocks": blocks, "per_block": blocks // len(dit.blocks), "other": total - blocks}


def memory_plan(params: dict, tokens: int = 73728, width: int = 6144, ffn: int = 16384, layers: int = 48,
                text_tokens: int = 512) -> list[dict]:
    """Training memory per GPU (GB): bf16 weights + bf16 grads + fp32 master and AdamW moments (16 bytes a
    parameter), sharded by FSDP2 over the GPUs; activations with every block checkpointed: each block's input kept
    (bf16), one block's recompute live at a time; Ulysses sequence parallelism splits the tokens over the GPUs."""
    n = params["total"]
    rows = []
    for gpus in (1, 8):
        local = tokens // gpus
        states = n * 16 / gpus
        kept = layers * local * width * 2  # checkpointed block inputs
        # one block in backward: q, k, v, attention out, 3 norms, the SwiGLU's 3 ffn-wide tensors, cross-attn out
        live = local * (8 * width + 3 * ffn) * 2 * 2 + text_tokens * width * 2 * 2
        gathered = 2 * params["per_block"] * 2  # FSDP2: this block and the next one's weights, gathered in bf16
        total = states + kept + live + (gathered if gpus > 1 else 0)
        rows.append({"gpus": gpus, "tokens_per_gpu": local, "states_GB": round(states / GB, 1),
                     "activations_GB": round((kept + live) / GB, 1), "total_GB": round(total / GB, 1),
                     "fits_80GB": total < 80 * GB,
                     "inference_bf16_weights_GB": round(n * 2 / GB / gpus, 1)})
    return rows


def forward(layers: int, tokens_grid: tuple[int, int, int], width: int, heads: int, ffn: int, device: str,
            dtype: torch.dtype, repeats: int) -> dict:
    """Seconds per forward, peak memory and TFLOP/s of the DiT at ``width`` with ``layers`` blocks."""
    from vgen_plugins.moviegen.transformer import MovieGenTransformer

    t, h, w = tokens_grid
    cfg = {"hidden_size": width, "num_layers": layers, "num_attention_heads": heads, "ffn_dim": ffn,
           "max_positions": [t, h, w], "text_dims": {"ul2": 64, "byt5": 64, "metaclip": 64}}
    with torch.device(device):
        dit = MovieGenTransformer(cfg).to(dtype).eval()
    x = torch.randn(1, 16, t, 2 * h, 2 * w, device=device, dtype=dtype)
    text = {k: torch.randn(1, 128, 64, device=device, dtype=dtype) for k in ("ul2", "byt5", "metaclip")}
    n = t * h * w
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        dit(x, torch.tensor([500.0], device=device), **text)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            dit(x, torch.tensor([500.0], device=device), **text)
        if device == "cuda":
            torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / repeats
    per_block = dit.blocks[0]
    block_params = sum(p.numel() for p in per_block.parameters()) - per_block.scale_shift_table.numel()
    flops = layers * (2 * n * block_params + 4 * n * n * width + 4 * n * 3 * 128 * width)  # linears + attentions
    return {"tokens": n, "layers": layers, "s_per_forward": round(seconds, 4),
            "s_per_step_48_layers": round(seconds * 48 / layers, 2),
            "peak_memory_GB": round(torch.cuda.max_memory_allocated() / GB, 1) if device == "cuda" else None,
            "TFLOP_per_s": round(flops / seconds / 1e12, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="a tiny CPU run of the same code")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    params = parameter_count()
    out = {"params": params, "params_B": round(params["total"] / 1e9, 2), "memory_plan_73k_tokens": memory_plan(params)}
    if args.smoke:
        out["forward"] = forward(1, (2, 2, 2), 32, 4, 64, "cpu", torch.float32, 1)
    elif torch.cuda.is_available():
        # 256 frames at 768 px: 32 latent frames of 48 x 48 patches = 73,728 tokens; the paper's 30B width
        out["forward"] = forward(args.layers, (32, 48, 48), 6144, 48, 16384, "cuda", torch.bfloat16, args.repeats)
        out["device"] = torch.cuda.get_device_name()
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
