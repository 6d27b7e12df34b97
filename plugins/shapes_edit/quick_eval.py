"""The instruction editor scored on held-out edit pairs rendered in memory (no MP4s, no PyAV): what
scripts/train_editor.sh runs right after training, on the GPU, to pick the sampling settings, and what a CPU check of
a few cases runs. ``vgen eval edits`` over ``vgen datasets shapes-edits`` cases (MP4s) stays the measure of record;
pair ``i`` of a seed here is case ``i`` there (before MP4 compression).

    python -m vgen_plugins.shapes_edit.quick_eval [--weights FILE] [--num 70] [--per-kind 10] [--seed 1000]
        [--strength 0.9,1.0] [--guidance 3,5] [--steps 10] [--config tiny] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch


def held_out(seed: int, num: int, per_kind: int | None) -> list:
    """Pairs ``0 .. num-1`` of ``seed``; with ``per_kind``, the first ``per_kind`` of each kind among them."""
    from vgen_plugins.shapes.edit_pairs import make_pair

    pairs, taken = [], {}
    for i in range(num):
        pair = make_pair(seed, i)
        if per_kind is not None and taken.get(pair.kind, 0) >= per_kind:
            continue
        taken[pair.kind] = taken.get(pair.kind, 0) + 1
        pairs.append(pair)
    return pairs


@torch.no_grad()
def score_pairs(pipe, pairs: list, strength: float, guidance: float, steps: int, seed: int = 0,
                batch: int = 50) -> list[dict]:
    """Edit each pair's source with its instruction as ``vgen edit --seed SEED`` does (shapes-instruct; batched,
    the same noise for each) and score it as ``vgen eval edits`` does."""
    from vgen_plugins.shapes.edit_eval import score_edit
    from vgen_plugins.shapes.world import render
    from vgen_plugins.shapes_edit.editor import sample_edits
    from vgen_plugins.shapes_edit.pairs_cache import _pixels

    from vgen.flow.loop import resolve_options

    rows, opts = [], resolve_options(pipe, steps=steps, guidance=guidance)
    device, dtype = pipe.device, pipe.dtype
    for start in range(0, len(pairs), batch):
        chunk = pairs[start:start + batch]
        sources = [render(p.source) for p in chunk]
        latents = pipe.encode_video(_pixels(sources, device, dtype)).float()
        noise = torch.randn(latents.shape[1:], generator=torch.Generator().manual_seed(seed))
        z, _, _ = sample_edits(pipe, latents, [p.instruction for p in chunk], noise.expand_as(latents), strength,
                               opts)
        videos = pipe.decode(z.to(dtype)).float().clamp(0, 1).permute(0, 2, 3, 4, 1).cpu().numpy()
        for j, pair in enumerate(chunk):
            src_caption, tgt_caption = pair.captions()
            labels = {"kind": pair.kind, "instruction": pair.instruction, "source_caption": src_caption,
                      "target_caption": tgt_caption, "kept": [list(k) for k in pair.kept]}
            rows.append(score_edit(np.round(videos[j] * 255).astype(np.uint8), sources[j], labels))
    return rows


def summary(rows: list[dict]) -> dict:
    """Success % by kind and over all, preserved % among successes."""
    kinds = sorted({r["kind"] for r in rows})
    wins = [r for r in rows if r["success"]]
    return {"cases": len(rows), "success": round(100 * len(wins) / max(1, len(rows)), 1),
            "preserved": round(100 * sum(r["preserved"] for r in wins) / max(1, len(wins)), 1),
            "by_kind": {k: round(100 * np.mean([r["success"] for r in rows if r["kind"] == k]), 1) for k in kinds}}


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    from vgen_plugins.shapes_edit.pipeline import build

    p = argparse.ArgumentParser(prog="quick_eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", help="editor file (default: the shipped one)")
    p.add_argument("--config", help="tiny: random tiny weights (a dry run)")
    p.add_argument("--num", type=int, default=70)
    p.add_argument("--per-kind", type=int)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--strength", default="0.9")
    p.add_argument("--guidance", default="3")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--json", help="write every setting's summary here")
    a = p.parse_args(argv)
    try:
        strengths, guidances = _floats(a.strength), _floats(a.guidance)
    except ValueError:
        print(f"quick_eval: --strength/--guidance take numbers separated by commas, got {a.strength!r}, "
              f"{a.guidance!r}", file=sys.stderr)
        return 2
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)  # a tiny config's random weights, as vgen train builds them (recipe seed 0)
    pipe = build(weights=a.weights, config=a.config, device=device)
    if a.config and a.weights:  # a dry run: the editor file trained on the same random tiny model (seeded alike)
        from vgen.nn.lora import apply_lora

        apply_lora(pipe, a.weights)
    pairs = held_out(a.seed, a.num, a.per_kind)
    results = []
    for strength in strengths:
        for guidance in guidances:
            t0 = time.perf_counter()
            res = summary(score_pairs(pipe, pairs, strength, guidance, a.steps))
            res.update(strength=strength, guidance=guidance, steps=a.steps,
                       seconds=round(time.perf_counter() - t0, 1))
            results.append(res)
            print(json.dumps(res), flush=True)
    if a.json:
        from vgen.io.atomic import write_text

        write_text(a.json, json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
