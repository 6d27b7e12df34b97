"""The sample stage and the flow core keep to their side of the house: every import they make, lazy ones included,
stays out of other stages (vgen.train, vgen.curate), the CLI (typer, vgen.cli), and plugins (vgen_plugins,
vgen_export); the flow core imports no stage at all (train and sample both use it)."""

import ast
from pathlib import Path

import pytest

import vgen

ROOT = Path(vgen.__file__).parent
NOT_FROM = {"sample": ("vgen.train", "vgen.curate", "vgen.cli", "typer", "vgen_plugins", "vgen_export"),
            "flow": ("vgen.sample", "vgen.train", "vgen.curate", "vgen.cli", "typer", "vgen_plugins", "vgen_export")}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("package", sorted(NOT_FROM))
def test_package_imports_stay_on_its_side(package):
    files = sorted((ROOT / package).glob("*.py"))
    assert files
    crossing = {f"{path.name}: {name}" for path in files for name in _imports(path)
                for banned in NOT_FROM[package] if name == banned or name.startswith(banned + ".")}
    assert not crossing, sorted(crossing)
