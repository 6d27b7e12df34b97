"""Command groups that several plugins add to (``vgen convert``, ``vgen datasets``, ``vgen eval``).

A plugin's ``register_commands(app)`` calls ``group(app, "eval", help=...).command("mine")(fn)``: the first call adds
the group, later ones (from any plugin) get the same sub-app, so no plugin owns a shared group. The help of the
groups vgen names below is fixed, so it does not depend on which plugin happens to load first.
"""

from __future__ import annotations

import typer

HELP = {
    "convert": "Convert checkpoints into the diffusers layout.",
    "datasets": "Generate procedural training data sets.",
    "eval": "Score generated videos automatically.",
}


def group(app: typer.Typer, name: str, help: str | None = None) -> typer.Typer:
    """The sub-app ``name`` of ``app``, added (with ``help``, unless vgen fixes it above) when not there yet."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    text = HELP.get(name, help)
    if not text:
        raise ValueError(f"command group {name!r} needs a help text")
    sub = typer.Typer(help=text, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub
