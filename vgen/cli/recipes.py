"""``vgen recipes list`` and ``vgen recipes show NAME``."""

from __future__ import annotations

import json

import typer

from vgen.hookspecs import hookimpl

recipes_app = typer.Typer(help="List and show recipes (validated, fully resolved settings).", no_args_is_help=True)


@recipes_app.command("list")
def list_recipes():
    """Names of the recipes that ship with vgen, each with its folder (group) and description."""
    from vgen import settings

    root = settings.recipe_dir()
    for name, path in settings.shipped_recipes().items():
        _, data = settings.read_recipe(path)
        group = path.parent.relative_to(root).as_posix()
        typer.echo(f"{name}\t{'' if group == '.' else f'[{group}] '}{data.get('description', '')}")


@recipes_app.command("show")
def show_recipe(name: str = typer.Argument(..., help="A recipe name from `vgen recipes list`, or a path.")):
    """A recipe with every field resolved (defaults < recipe < VGEN_* environment)."""
    from vgen import settings

    typer.echo(json.dumps(settings.resolve_recipe(name), indent=2, default=str))


@hookimpl
def register_commands(app):
    app.add_typer(recipes_app, name="recipes")
