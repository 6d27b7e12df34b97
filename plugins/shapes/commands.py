"""The shapes world's commands: ``vgen datasets shapes`` (write a data set) and ``vgen eval shapes|compare`` (score
generated videos against their prompts, compare two reports). Imported by ``register_commands`` only, so that the
plugin scan stays free of typer."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vgen.cli.groups import group


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def datasets_shapes(
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
    clip_format: str = typer.Option("mp4", "--format", help="mp4 (H.264 + AAC) or npz (frames and sound as arrays, "
                                                            "no codec: machines without PyAV)."),
    workers: int = typer.Option(0, "--workers", "-w", help="Worker processes (0: one per CPU core)."),
):
    """Write NUM shapes-world clips with captions and structured labels (deterministic, resumable)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from vgen_plugins.shapes.dataset import ShapesSettings, generate

    from vgen import console
    from vgen.errors import UserError

    settings = ShapesSettings(size=size, frames=frames, fps=fps, seed=seed, audio=audio,
                              two_object_fraction=two_object_fraction, caption_form=caption_form,
                              shape_weights=shape_weights or None, clip_format=clip_format)
    with Progress(TextColumn("shapes"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console.err, disable=console.state.quiet, transient=True) as bar:
        task = bar.add_task("clips", total=None)
        if workers < 0:
            raise UserError(f"--workers must be >= 0 (0: one per CPU core), got {workers}")
        result = generate(out, num, settings, workers=workers or None,
                          progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.info(f"wrote {result['written']} clips ({result['skipped']} already there) in {result['seconds']:.1f} s "
                 f"({result['clips_per_second']:.1f} clips/s, {result['workers']} workers)")
    console.out.print(result["manifest"], markup=False, highlight=False)


def eval_shapes(
    folder: Path = typer.Argument(..., help="Folder of videos with <video>.json sidecars (or a shapes manifest)."),
    json_out: Path = typer.Option(None, "--json", help="Where to write the scores (default FOLDER/shapes_eval.json)."),
):
    """Score every video in FOLDER against its prompt: colour, shape, size, motion, all-correct (and sound)."""
    from rich import box
    from rich.table import Table
    from vgen_plugins.shapes.evaluate import ATTRIBUTES, SOUND, evaluate

    from vgen import console
    from vgen.io.atomic import write_text

    report = evaluate(folder)
    summary = report["summary"]
    sound = any("n_sound" in s for s in summary.values())
    table = Table(title=f"shapes eval (% correct): {folder}", box=box.SIMPLE_HEAD)
    columns = ["prompts", "n", *ATTRIBUTES] + (list(SOUND) if sound else [])
    for col in columns:
        table.add_column(col.replace("_", "-"), justify="left" if col == "prompts" else "right", no_wrap=True)
    for name, s in summary.items():
        if s["n"]:
            table.add_row(name, str(s["n"]), *(_pct(s[k]) for k in ATTRIBUTES),
                          *((_pct(s.get(k)) for k in SOUND) if sound else ()))
    console.out.print(table)
    for key, what in (("skipped_no_prompt", "without a prompt"), ("skipped_not_grammar", "with a non-grammar prompt")):
        if report[key]:
            console.warn(f"skipped {len(report[key])} videos {what}")
    path = json_out or Path(folder) / "shapes_eval.json"
    write_text(path, json.dumps(report, indent=2, default=float) + "\n")
    console.info(f"scores written to {path}")


def eval_compare(
    a: Path = typer.Argument(..., help="A report of `vgen eval shapes` (its --json)."),
    b: Path = typer.Argument(..., help="Another report on the same prompt file (other weights, device or flags)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the comparison here."),
):
    """Compare two reports prompt by prompt: % correct in each, prompts only A / only B gets right, and the
    two-sided sign-test p-value of that split (a small p: more than the luck of a few prompts)."""
    from rich import box
    from rich.table import Table
    from vgen_plugins.shapes.compare import compare as compare_reports
    from vgen_plugins.shapes.evaluate import ATTRIBUTES

    from vgen import console
    from vgen.io.atomic import write_text

    result = compare_reports(a, b)
    table = Table(title=f"A: {a}\nB: {b}", box=box.SIMPLE_HEAD)
    for col in ("prompts", "n", "", "A %", "B %", "only A", "only B", "p"):
        table.add_column(col, justify="left" if col in ("prompts", "") else "right", no_wrap=True)
    for name, entry in result["groups"].items():
        if entry["n"]:
            for key in ATTRIBUTES:
                c = entry[key]
                table.add_row(name if key == ATTRIBUTES[0] else "", str(entry["n"]) if key == ATTRIBUTES[0] else "",
                              key.replace("_", "-"), _pct(c["a"]), _pct(c["b"]), str(c["only_a"]), str(c["only_b"]),
                              f"{c['p']:.3f}", end_section=key == ATTRIBUTES[-1])
    console.out.print(table)
    if result["only_in_a"] or result["only_in_b"]:
        console.warn(f"compared the {result['paired']} videos both hold; {result['only_in_a']} only in A, "
                     f"{result['only_in_b']} only in B")
    if json_out:
        write_text(json_out, json.dumps(result, indent=2) + "\n")
        console.info(f"comparison written to {json_out}")


def datasets_shapes_edits(
    num: int = typer.Option(..., "--num", "-n", help="Number of edit pairs."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (pairs/, manifest.jsonl, *_jobs.jsonl)."),
    seed: int = typer.Option(0, "--seed", help="Pair i depends only on (seed, i)."),
    kind: str = typer.Option("", "--kind", help="Only this kind: colour, shape, size, motion, background, remove, "
                                                "add (default: each pair draws one)."),
    size: int = typer.Option(64, "--size", help="Canvas side in pixels."),
    frames: int = typer.Option(17, "--frames", help="Frames per clip (4k+1)."),
    fps: float = typer.Option(8.0, "--fps", help="Frames per second."),
):
    """Write NUM edit pairs: the same scene with one change (source and target clip), the instruction and its kind;
    the cases `vgen edit --jobs` and `vgen eval edits` run on."""
    from vgen_plugins.shapes.edit_data import write_pairs

    from vgen import console

    result = write_pairs(out, num, seed=seed, size=size, frames=frames, fps=fps, kind=kind or None)
    console.info(f"wrote {result['written']} edit pairs in {result['seconds']:.1f} s")
    console.out.print(result["manifest"], markup=False, highlight=False)


def eval_edits(
    folders: list[Path] = typer.Argument(..., help="Folders of edited videos with their `vgen edit` sidecars."),
    cases: Path = typer.Option(..., "--cases", help="The pairs they edit (`vgen datasets shapes-edits`)."),
    json_out: Path = typer.Option(None, "--json", help="Where to write the scores (default FIRST/edits_eval.json)."),
):
    """Score edits by method and kind: success (the target caption holds, right background) and preservation (among
    successes, the objects the edit must not touch stay within 2.5 px of their source tracks)."""
    from rich import box
    from rich.table import Table
    from vgen_plugins.shapes.edit_eval import evaluate_edits

    from vgen import console
    from vgen.io.atomic import write_text

    report = evaluate_edits(folders, cases)
    table = Table(title=f"edit eval (%): {cases}", box=box.SIMPLE_HEAD)
    for col in ("method", "kind", "n", "success", "preserved", "s/edit"):
        table.add_column(col, justify="left" if col in ("method", "kind") else "right", no_wrap=True)
    for method, kinds in report["summary"].items():
        for kind, s in kinds.items():
            table.add_row(method if kind == next(iter(kinds)) else "", kind, str(s["n"]), _pct(s["success"]),
                          _pct(s["preserved"]), "-" if s["seconds"] is None else f"{s['seconds']:.2f}",
                          end_section=kind == "all")
    console.out.print(table)
    if report["not_cases"]:
        console.warn(f"skipped {len(report['not_cases'])} edits whose source is not one of the cases")
    path = json_out or Path(folders[0]) / "edits_eval.json"
    write_text(path, json.dumps(report, indent=2) + "\n")
    console.info(f"scores written to {path}")


def eval_dub(
    folder: Path = typer.Argument(..., help="Folder of videos with sound (e.g. from vgen dub)."),
    json_out: Path = typer.Option(None, "--json", help="Where to write the scores (default FOLDER/dub_eval.json)."),
):
    """Score each video's sound against what is on screen: pitch (tones = colours shown), sync (a click within one
    frame of every bottom contact, no stray click) and silence (no click without a bouncing object)."""
    from vgen_plugins.shapes.dub_eval import evaluate_dub

    from vgen import console
    from vgen.io.atomic import write_text

    report = evaluate_dub(folder)
    s = report["summary"]
    console.out.print(f"videos\t{s['n']}\npitch\t{_pct(s['pitch'])}\nsync\t{_pct(s['sync'])} (of {s['n_sync']})\n"
                      f"silent\t{_pct(s['silent'])} (of {s['n_silent']})\nno sound\t{s['no_sound']}",
                      markup=False, highlight=False)
    path = json_out or Path(folder) / "dub_eval.json"
    write_text(path, json.dumps(report, indent=2, default=float) + "\n")
    console.info(f"scores written to {path}")


def register(app: typer.Typer) -> None:
    group(app, "datasets").command("shapes")(datasets_shapes)
    group(app, "datasets").command("shapes-edits")(datasets_shapes_edits)
    scores = group(app, "eval")
    scores.command("shapes")(eval_shapes)
    scores.command("compare")(eval_compare)
    scores.command("edits")(eval_edits)
    scores.command("dub")(eval_dub)
