"""``vgen plugins``: every loaded plugin, where it came from, what it registered, and what went wrong."""

from __future__ import annotations

import json

import typer

from vgen.hookspecs import hookimpl


def _rows() -> list[dict]:
    from vgen import plugins, registry

    table_data = registry.backends()  # collecting the backends records duplicate names, so it comes first
    rows = []
    for name in dict.fromkeys([*plugins.sources, *(f.name for f in plugins.failures)]):
        backends = []
        for b in sorted((b for kind in table_data.values() for b in kind.values() if b.plugin == name),
                        key=lambda b: (b.kind, b.name)):
            row = {"kind": b.kind, "name": b.name, "description": b.description}
            if b.overrides:
                row["overrides"] = b.overrides
            backends.append(row)
        rows.append({"plugin": name, "source": plugins.sources.get(name) or _failure_source(name),
                     "backends": backends, "commands": plugins.commands.get(name, []),
                     "failures": [f.error for f in plugins.failures if f.name == name]})
    return rows


def _failure_source(name: str) -> str:
    from vgen import plugins

    return next((f.source for f in plugins.failures if f.name == name), "?")


def plugins_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """List loaded plugins, the backends and commands each registered (and what it overrides), and plugin failures."""
    from vgen import console, plugins

    rows = _rows()
    if as_json:
        typer.echo(json.dumps({"plugins": rows, "failures": [f.__dict__ for f in plugins.failures]}, indent=2))
        return
    from rich.table import Table

    table = Table(title="vgen plugins")
    for col in ("plugin", "source", "kind", "name", "description"):
        table.add_column(col)
    for row in rows:
        lines = [(b["kind"], b["name"], b["description"] + (f" (overrides {b['overrides']})" if "overrides" in b
                                                             else "")) for b in row["backends"]]
        lines += [("command", command, "") for command in row["commands"]]
        lines += [("failed", "-", error) for error in row["failures"]]
        for i, (kind, name, text) in enumerate(lines or [("-", "-", "")]):
            table.add_row(row["plugin"] if i == 0 else "", row["source"] if i == 0 else "", kind, name, text)
    console.out.print(table)


@hookimpl
def register_commands(app):
    app.command("plugins")(plugins_command)
