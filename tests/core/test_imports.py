"""Library imports of vgen (the stages, io, nn, the registry) never import typer or the CLI: the CLI registers its
command modules itself when it builds the app, the plugin manager's scan does not reach them."""

import subprocess
import sys
import textwrap

LIBRARY = ("vgen.sample", "vgen.train", "vgen.curate", "vgen.io", "vgen.nn", "vgen.flow", "vgen.edit", "vgen.dub", "vgen.export", "vgen.engines", "vgen.contract", "vgen.registry")


def test_library_imports_and_registry_lookups_import_no_cli():
    code = textwrap.dedent(f"""
        import importlib, sys
        for name in {LIBRARY!r}:
            importlib.import_module(name)
        from vgen import registry
        for kind in registry.HOOKS:
            registry.names(kind)
        registry.get("sampler", "flow-euler").factory()
        registry.get("schedule", "shifted").factory()(4, 3.0)
        cli = sorted(m for m in sys.modules if m == "typer" or m.startswith(("typer.", "vgen.cli")))
        print(",".join(cli))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"imported by a library import: {res.stdout.strip()}"


def test_the_plugin_scan_imports_no_torch():
    """Every start-up collects the registry: plugins register factories and import their heavy modules inside them."""
    code = "import sys\nfrom vgen import registry\nregistry.backends()\nprint('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"
