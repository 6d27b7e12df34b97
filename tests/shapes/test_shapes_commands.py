"""The shapes plugin registers its own commands into groups other plugins share, and stays free of typer until then."""

import subprocess
import sys

import pytest
import typer
from typer.main import get_command
from vgen_plugins.shapes.commands import register

from vgen.cli.groups import HELP, group


def test_plugins_share_a_group_with_fixed_help():
    app = typer.Typer()
    register(app)
    group(app, "eval", help="another plugin's words").command("mine")(lambda: None)
    group(app, "extras", help="A group a plugin adds.").command("one")(lambda: None)
    command = get_command(app)
    assert sorted(command.commands) == ["datasets", "eval", "extras"]
    assert sorted(command.commands["eval"].commands) == ["compare", "dub", "edits", "mine", "shapes"]
    assert command.commands["eval"].help == HELP["eval"]  # the same whichever plugin comes first
    assert command.commands["extras"].help == "A group a plugin adds."
    assert list(command.commands["datasets"].commands) == ["shapes", "shapes-edits"]
    with pytest.raises(ValueError, match="needs a help text"):
        group(app, "nameless")


def test_plugins_import_no_cli():
    """What the plugin scan imports (each plugin's package) and what the pipelines and scorers import loads neither
    typer nor vgen.cli: the scan runs on every start, and library users need no CLI."""
    modules = ["vgen_plugins.shapes", "vgen_plugins.shapes_model", "vgen_plugins.hunyuan_video",
               "vgen_plugins.shapes.dataset", "vgen_plugins.shapes.evaluate", "vgen_plugins.shapes.compare",
               "vgen_plugins.shapes_model.pipeline", "vgen_plugins.hunyuan_video.pipeline",
               "vgen_plugins.hunyuan_video.convert"]
    code = (f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; "
            "print(sorted(m for m in sys.modules if m == 'typer' or m.startswith('vgen.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
