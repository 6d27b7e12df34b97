"""``vgen curate INPUT_DIR --out DIR``: shot-split, filter, label and caption a folder of videos into clips."""

from __future__ import annotations

from pathlib import Path

import typer

from vgen.hookspecs import hookimpl


def curate(
    input_dir: Path = typer.Argument(..., help="Folder of source videos (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: clips/, thumbs/, manifest.jsonl, report.html."),
    recipe: str = typer.Option(None, "--recipe", help="Recipe name or TOML path; its [curate] section applies."),
    workers: int = typer.Option(None, "--workers", "-j", help="Parallel workers (processes, or Ray CPUs)."),
    engine: str = typer.Option(None, "--engine", help="local (process pool) or ray."),
    ray_address: str = typer.Option(None, "--ray-address", help="Join this Ray cluster (default: start a local one)."),
    min_duration: float = typer.Option(None, "--min-duration", help="Shortest clip, seconds (default 4)."),
    max_duration: float = typer.Option(None, "--max-duration", help="Longest clip, seconds (default 16)."),
    min_side: int = typer.Option(None, "--min-side", help="Reject sources whose smaller side is below this."),
):
    """Curate a folder of videos: probe, shot split, cut, score, filter, label, caption; resumable."""
    from vgen import console
    from vgen.curate.run import curate as run_curate
    from vgen.settings import load_section

    settings = load_section("curate", recipe, {
        "workers": workers, "engine": engine, "ray_address": ray_address, "min_duration": min_duration,
        "max_duration": max_duration, "min_side": min_side,
    })
    result = run_curate(input_dir, out, settings)
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
    console.out.print(f"manifest: {out / 'manifest.jsonl'}  report: {out / 'report.html'}", markup=False,
                      highlight=False)


@hookimpl
def register_commands(app):
    app.command("curate")(curate)
