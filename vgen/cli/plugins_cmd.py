"""``vgen plugins``: every loaded plugin, where it came from, and what it registered."""

from __future__ import annotations

import json

import typer

from vgen.hookspecs import hookimpl


def plugins_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """List loaded plugins and the backends each registered."""
    from rich.table import Table

    from vgen import console, plugins, registry

    table_data = registry.backends()
    rows = []
    for name, source in plugins.sources.items():
        regs = [(b.kind, b.name, b.description) for kind in table_data.values() for b in kind.values()
                if b.plugin == name]
        rows.append({"plugin": name, "source": source,
                     "backends": [{"kind": k, "name": n, "description": d} for k, n, d in sorted(regs)]})
    if as_json:
        typer.echo(json.dumps({"plugins": rows, "failures": [f.__dict__ for f in plugins.failures]}, indent=2))
    else:
        table = Table(title="vgen plugins")
        for col in ("plugin", "source", "kind", "name", "description"):
            table.add_column(col)
        for row in rows:
            if not row["backends"]:
                table.add_row(row["plugin"], row["source"], "-", "-", "")
            for i, b in enumerate(row["backends"]):
                table.add_row(row["plugin"] if i == 0 else "", row["source"] if i == 0 else "", b["kind"], b["name"],
                              b["description"])
        console.out.print(table)
    for failure in plugins.failures:
        console.error(failure.line())


@hookimpl
def register_commands(app):
    app.command("plugins")(plugins_command)
