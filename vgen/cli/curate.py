"""``vgen curate INPUT_DIR --out DIR``: shot-split, filter, label and caption a folder of videos into clips."""

from __future__ import annotations

from pathlib import Path

import typer

from vgen.curate.settings import CurateSettings
from vgen.hookspecs import hookimpl

COMBINED = ["adaptive", "histogram"]  # measured best (benchmarks/curate_cuts.py), run in union


def _default(name: str) -> str:
    return str(CurateSettings.model_fields[name].default)


def curate(
    input_dir: Path = typer.Argument(..., help="Folder of source videos (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: clips/, thumbs/, manifest.jsonl, report.html."),
    recipe: str = typer.Option(None, "--recipe", help="Recipe name or TOML path; its [curate] section applies.",
                               show_default="none: the built-in [curate] settings"),
    workers: int = typer.Option(None, "--workers", "-j", help="Parallel workers (processes, or Ray CPUs).",
                                show_default=_default("workers")),
    engine: str = typer.Option(None, "--engine", help="local (process pool) or ray.", show_default=_default("engine")),
    ray_address: str = typer.Option(None, "--ray-address", help="Join this Ray cluster.",
                                    show_default="start a local Ray"),
    detector: str = typer.Option(None, "--detector", help="Shot detector: adaptive, content, hash, histogram, a comma "
                                 "list of them (combined as the recipe's `combine`, default union), or combined "
                                 "(adaptive + histogram in union).", show_default="combined"),
    min_duration: float = typer.Option(None, "--min-duration", help="Shortest clip, seconds.",
                                       show_default=_default("min_duration")),
    max_duration: float = typer.Option(None, "--max-duration", help="Longest clip, seconds.",
                                       show_default=_default("max_duration")),
    min_side: int = typer.Option(None, "--min-side", help="Reject sources whose smaller side is below this (px).",
                                 show_default=_default("min_side")),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into an --out that holds other files (an "
                                   "earlier curate's output is resumed without it)."),
):
    """Curate a folder of videos: probe, shot split, cut, score, filter, label, caption; resumable."""
    from vgen import console
    from vgen.curate.run import curate as run_curate
    from vgen.settings import load_section

    settings = load_section("curate", recipe, {
        "workers": workers, "engine": engine, "ray_address": ray_address, "min_duration": min_duration,
        "max_duration": max_duration, "min_side": min_side, **_detectors(detector),
    })
    result = run_curate(input_dir, out, settings, overwrite=overwrite)
    s = result.summary
    kept_s = sum((r.end or 0) - r.start for r in result.records if r.status == "kept")
    console.out.print(
        f"curated {result.inputs} inputs ({result.processed} run now) in {result.seconds:.1f} s: "
        f"{s['kept']} kept ({kept_s:.1f} s), {s['rejected']} rejected, {s['error']} errors",
        markup=False, highlight=False)
    for reason, n in sorted(s["reasons"].items(), key=lambda kv: -kv[1]):
        console.out.print(f"  {reason}: {n}", markup=False, highlight=False)
    for res, row in s["buckets"].items():
        console.out.print(f"  bucket {res}: " + ", ".join(f"{d} {n}" for d, n in row.items()), markup=False,
                          highlight=False)
    if result.skipped:
        console.out.print(f"  skipped {len(result.skipped)} files that are not videos", markup=False, highlight=False)
    n_cuts = sum(len(c.get("frames", [])) for c in s.get("cuts", {}).values())
    console.out.print(f"  detected cuts: {n_cuts} in {len(s.get('cuts', {}))} sources (summary.json: cuts)",
                      markup=False, highlight=False)
    console.out.print(f"manifest: {out / 'manifest.jsonl'}  report: {out / 'report.html'}", markup=False,
                      highlight=False)


def _detectors(value: str | None) -> dict:
    """``--detector`` as settings overrides."""
    from vgen.errors import UserError

    if not value:
        return {}
    if value.strip() == "combined":
        return {"detectors": COMBINED, "combine": "union"}
    names = [v.strip() for v in value.split(",") if v.strip()]
    known = ("adaptive", "content", "hash", "histogram")
    if not names or any(n not in known for n in names):
        raise UserError(f"--detector {value!r}: use combined or one or more of {', '.join(known)} (comma separated)")
    return {"detectors": names}


@hookimpl
def register_commands(app):
    app.command("curate")(curate)
