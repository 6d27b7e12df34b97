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


@eval_app.command("compare")
def compare(
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
    for group, entry in result["groups"].items():
        if entry["n"]:
            for key in ATTRIBUTES:
                c = entry[key]
                table.add_row(group if key == ATTRIBUTES[0] else "", str(entry["n"]) if key == ATTRIBUTES[0] else "",
                              key.replace("_", "-"), _pct(c["a"]), _pct(c["b"]), str(c["only_a"]), str(c["only_b"]),
                              f"{c['p']:.3f}", end_section=key == ATTRIBUTES[-1])
    console.out.print(table)
    if result["only_in_a"] or result["only_in_b"]:
        console.warn(f"compared the {result['paired']} videos both hold; {result['only_in_a']} only in A, "
                     f"{result['only_in_b']} only in B")
    if json_out:
        write_text(json_out, json.dumps(result, indent=2) + "\n")
        console.info(f"comparison written to {json_out}")


@hookimpl
def register_commands(app):
    app.add_typer(eval_app, name="eval")
