"""The instruction editor scored on held-out edit pairs rendered in memory (no MP4s, no PyAV): what
scripts/train_editor.sh runs right after training, on the GPU, to pick the sampling settings, and what a CPU check of
a few cases runs. ``vgen eval edits`` over ``vgen datasets shapes-edits`` cases (MP4s) stays the measure of record;
pair ``i`` of a seed here is case ``i`` there (before MP4 compression).

    python -m vgen_plugins.shapes_edit.quick_eval [--weights FILE] [--num 70] [--per-kind 10] [--seed 1000]
        [--strength 0.9,1.0] [--guidance 3,5] [--steps 10] [--config tiny] [--json OUT] [--method flowedit]
        [--test-seed 1000 --write-defaults]

The training script sweeps on pairs of seed 2000 (never trained on, never in the eval cases), stores the best
setting in the editor file (its sampling defaults) and runs that one on seed 1000: the settings are not chosen on
the cases they are reported on.
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


def _labels(pair) -> dict:
    src_caption, tgt_caption = pair.captions()
    return {"kind": pair.kind, "instruction": pair.instruction, "source_caption": src_caption,
            "target_caption": tgt_caption, "kept": [list(k) for k in pair.kept]}


def _frames(pipe, z: torch.Tensor) -> np.ndarray:
    """Decoded uint8 videos (B, T, H, W, 3) of latents, as vgen edit writes them before the MP4."""
    video = pipe.decode(z.to(pipe.dtype)).float().clamp(0, 1).permute(0, 2, 3, 4, 1).cpu().numpy()
    return np.round(video * 255).astype(np.uint8)


def _score(item) -> dict:
    from vgen_plugins.shapes.edit_eval import score_edit

    return score_edit(*item)


@torch.no_grad()
def score_pairs(pipe, pairs: list, strength: float, guidance: float, steps: int, seed: int = 0,
                batch: int = 50, method: str = "shapes-instruct", pool=None) -> list[dict]:
    """Edit each pair's source as ``vgen edit --seed SEED`` does and score it as ``vgen eval edits`` does: the
    instruction editor batched (the same noise for each), a training-free ``method`` (flowedit, sdedit) one by one
    with the pair's source and target captions. ``pool``: an executor that scores (CPU) while the model samples."""
    from vgen_plugins.shapes.world import render
    from vgen_plugins.shapes_edit.editor import sample_edits
    from vgen_plugins.shapes_edit.pairs_cache import _pixels

    from vgen import registry
    from vgen.contract.edit import EditRequest
    from vgen.flow.loop import resolve_options

    items, opts = [], resolve_options(pipe, steps=steps, guidance=guidance)
    for start in range(0, len(pairs), batch):
        chunk = pairs[start:start + batch]
        sources = [render(p.source) for p in chunk]
        latents = pipe.encode_video(_pixels(sources, pipe.device, pipe.dtype)).float()
        if method == "shapes-instruct":
            noise = torch.randn(latents.shape[1:], generator=torch.Generator().manual_seed(seed))
            z, _, _ = sample_edits(pipe, latents, [p.instruction for p in chunk], noise.expand_as(latents),
                                   strength, opts)
        else:
            editor = registry.get("editor", method).factory()
            z = torch.cat([editor.edit(pipe, latents[j:j + 1], EditRequest(*p.captions(), strength=strength,
                                                                           steps=steps, guidance=guidance),
                                       torch.Generator().manual_seed(seed))[0] for j, p in enumerate(chunk)])
        items += [(frames, sources[j], _labels(chunk[j])) for j, frames in enumerate(_frames(pipe, z))]
    return list(pool.map(_score, items, chunksize=4) if pool is not None else map(_score, items))


def summary(rows: list[dict]) -> dict:
    """Success % by kind and over all, preserved % among successes."""
    kinds = sorted({r["kind"] for r in rows})
    wins = [r for r in rows if r["success"]]
    return {"cases": len(rows), "success": round(100 * len(wins) / max(1, len(rows)), 1),
            "preserved": round(100 * sum(r["preserved"] for r in wins) / max(1, len(wins)), 1),
            "by_kind": {k: round(100 * np.mean([r["success"] for r in rows if r["kind"] == k]), 1) for k in kinds}}


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _load(a):
    from vgen_plugins.shapes_edit.pipeline import build

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)  # a tiny config's random weights, as vgen train builds them (recipe seed 0)
    if a.method != "shapes-instruct":
        from vgen_plugins.shapes_model.pipeline import build as build_base

        return build_base(config=a.config, device=device)
    pipe = build(weights=a.weights, config=a.config, device=device)
    if a.config and a.weights:  # a dry run: the editor file trained on the same random tiny model (seeded alike)
        from vgen.nn.lora import apply_lora

        apply_lora(pipe, a.weights)
    return pipe


def _pool(workers: int):
    """Scoring processes (spawned: the parent may hold a CUDA context), or none for ``workers`` <= 1."""
    import contextlib
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if workers <= 1:
        return contextlib.nullcontext()
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))


def _run(pipe, a, seed: int, strength: float, guidance: float, pool=None) -> dict:
    t0 = time.perf_counter()
    res = summary(score_pairs(pipe, held_out(seed, a.num, a.per_kind), strength, guidance, a.steps,
                              method=a.method, pool=pool))
    res.update(method=a.method, seed=seed, strength=strength, guidance=guidance, steps=a.steps,
               seconds=round(time.perf_counter() - t0, 1))
    print(json.dumps(res), flush=True)
    return res


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="quick_eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", help="editor file (default: the shipped one)")
    p.add_argument("--method", default="shapes-instruct", help="or flowedit, sdedit (the default model, captions)")
    p.add_argument("--config", help="tiny: random tiny weights (a dry run)")
    p.add_argument("--num", type=int, default=70)
    p.add_argument("--per-kind", type=int)
    p.add_argument("--seed", type=int, default=1000, help="the pairs' seed (1000: vgen eval edits' cases)")
    p.add_argument("--strength", default="0.9")
    p.add_argument("--guidance", default="3")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--test-seed", type=int, help="then run the best setting (success, then preserved) on these")
    p.add_argument("--write-defaults", action="store_true",
                   help="store the best strength and guidance in --weights' metadata: the editor's defaults")
    p.add_argument("--workers", type=int, default=1, help="processes that score the edited videos")
    p.add_argument("--json", help="write every setting's summary here")
    return p


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    try:
        strengths, guidances = _floats(a.strength), _floats(a.guidance)
    except ValueError:
        strengths = guidances = []
    if not strengths or not guidances or (a.write_defaults and not a.weights):
        print(f"quick_eval: --strength/--guidance take numbers separated by commas (got {a.strength!r}, "
              f"{a.guidance!r}); --write-defaults needs --weights", file=sys.stderr)
        return 2
    pipe = _load(a)
    with _pool(a.workers) as pool:
        results = [_run(pipe, a, a.seed, st, g, pool) for st in strengths for g in guidances]
        best = max(results, key=lambda r: (r["success"], r["preserved"]))
        out = {"sweep": results, "picked": {"strength": best["strength"], "guidance": best["guidance"]}}
        if a.test_seed is not None:
            out["test"] = _run(pipe, a, a.test_seed, best["strength"], best["guidance"], pool)
    if a.write_defaults:
        from vgen_plugins.shapes_edit.pipeline import write_sampling_defaults

        write_sampling_defaults(a.weights, best["strength"], best["guidance"])
    if a.json:
        from vgen.io.atomic import write_text

        write_text(a.json, json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
