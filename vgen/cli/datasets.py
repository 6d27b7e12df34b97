"""``vgen datasets shapes``: write a procedural shapes-world data set (MP4 clips + manifest.jsonl for ``vgen train``)."""

from __future__ import annotations

from pathlib import Path

import typer

from vgen.hookspecs import hookimpl

datasets_app = typer.Typer(help="Generate procedural training data sets.", no_args_is_help=True)


@datasets_app.command("shapes")
def shapes(
    num: int = typer.Option(..., "--num", "-n", help="Number of clips (a rerun adds the missing ones)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (clips/ and manifest.jsonl)."),
    size: int = typer.Option(64, "--size", help="Canvas side in pixels (even)."),
    frames: int = typer.Option(17, "--frames", help="Frames per clip (4k+1)."),
    fps: float = typer.Option(8.0, "--fps", help="Frames per second."),
    seed: int = typer.Option(0, "--seed", help="Clip i depends only on (seed, i)."),
    audio: bool = typer.Option(False, "--audio/--no-audio", help="Add the 16 kHz sound track (AAC)."),
    two_object_fraction: float = typer.Option(0.5, "--two-object-fraction", help="Share of two-object clips."),
    caption_form: str = typer.Option("full", "--caption-form",
                                     help="full: captions name size and background; mixed: one of the grammar's "
                                          "four forms per clip (for training)."),
    shape_weights: str = typer.Option("", "--shape-weights",
                                      help="Relative shape weights, e.g. triangle=2 (a shape left out weighs 1)."),
    workers: int = typer.Option(0, "--workers", "-w", help="Worker processes (0: one per CPU core)."),
):
    """Write NUM shapes-world clips with captions and structured labels (deterministic, resumable)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from vgen_plugins.shapes.dataset import ShapesSettings, generate

    from vgen import console

    settings = ShapesSettings(size=size, frames=frames, fps=fps, seed=seed, audio=audio,
                              two_object_fraction=two_object_fraction, caption_form=caption_form,
                              shape_weights=shape_weights or None)
    with Progress(TextColumn("shapes"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console.err, disable=console.state.quiet, transient=True) as bar:
        task = bar.add_task("clips", total=None)
        result = generate(out, num, settings, workers=workers or None,
                          progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.info(f"wrote {result['written']} clips ({result['skipped']} already there) in {result['seconds']:.1f} s "
                 f"({result['clips_per_second']:.1f} clips/s, {result['workers']} workers)")
    console.out.print(result["manifest"], markup=False, highlight=False)


@hookimpl
def register_commands(app):
    app.add_typer(datasets_app, name="datasets")
