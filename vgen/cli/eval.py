"""``vgen eval shapes DIR``: score generated videos against their prompts (shapes world) and print a table."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vgen.hookspecs import hookimpl

eval_app = typer.Typer(help="Score generated videos automatically.", no_args_is_help=True)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


@eval_app.command("shapes")
def shapes(
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


@hookimpl
def register_commands(app):
    app.add_typer(eval_app, name="eval")
