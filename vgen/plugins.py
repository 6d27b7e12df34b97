"""The plugin manager: built-in backends, entry-point plugins and a plugins folder, all through the same hooks.

Built-in plugins are the modules of ``vgen.cli`` (one per subcommand) and the subpackages of ``vgen_plugins`` (the
repo's ``plugins/`` folder) and ``vgen_export`` (``export/``).
Third-party plugins come from the entry-point group ``vgen`` and from single ``.py`` files (or packages) in the folder
named by ``VGEN_PLUGINS_DIR``. ``VGEN_LOAD_PLUGINS=a,b`` loads only the third-party plugins named (an empty value
loads none). A plugin that fails to import or register is recorded in ``failures`` and reported in one line.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pluggy

from vgen import hookspecs

BUILTIN_PACKAGES = ("vgen.cli", "vgen_plugins", "vgen_export")  # vgen.cli: one module per subcommand


@dataclass
class PluginFailure:
    name: str
    source: str
    error: str

    def line(self) -> str:
        return f"plugin {self.name!r} ({self.source}) failed to load: {self.error}"


pm = pluggy.PluginManager("vgen")
pm.add_hookspecs(hookspecs)
sources: dict[str, str] = {}  # plugin name -> where it came from
failures: list[PluginFailure] = []
_loaded = False


def _register_module(name: str, source: str, load) -> None:
    try:
        module = load()
        pm.register(module, name=name)
        sources[name] = source
    except Exception as exc:  # a broken plugin must never take the CLI down
        failures.append(PluginFailure(name, source, f"{type(exc).__name__}: {exc}"))


def _builtin_modules():
    for package_name in BUILTIN_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ImportError:
            continue
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                yield f"{package_name}.{info.name}"


def _allowed(name: str) -> bool:
    wanted = os.environ.get("VGEN_LOAD_PLUGINS")
    if wanted is None:
        return True
    return name in {n.strip() for n in wanted.split(",") if n.strip()}


def _load_from_dir(path: Path) -> None:
    for item in sorted(path.iterdir()):
        if item.name.startswith(("_", ".")):
            continue
        if item.suffix == ".py":
            name, file = item.stem, item
        elif item.is_dir() and (item / "__init__.py").exists():
            name, file = item.name, item / "__init__.py"
        else:
            continue
        if not _allowed(name) or pm.has_plugin(name):
            continue

        def load(name=name, file=file):
            spec = importlib.util.spec_from_file_location(name, file, submodule_search_locations=None)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module

        _register_module(name, f"dir:{path}", load)


def load_plugins(force: bool = False) -> pluggy.PluginManager:
    """Load every plugin once (idempotent unless ``force``)."""
    global _loaded
    if _loaded and not force:
        return pm
    _loaded = True
    for module_name in _builtin_modules():
        _register_module(module_name, "built-in", lambda m=module_name: importlib.import_module(m))
    for ep in entry_points(group="vgen"):
        if _allowed(ep.name) and not pm.has_plugin(ep.name):
            _register_module(ep.name, f"entry point:{ep.value}", ep.load)
    plugins_dir = os.environ.get("VGEN_PLUGINS_DIR")
    if plugins_dir:
        path = Path(plugins_dir).expanduser()
        if path.is_dir():
            _load_from_dir(path)
        else:
            failures.append(PluginFailure(str(path), "VGEN_PLUGINS_DIR", "not a directory"))
    from vgen import registry

    registry.reset()
    return pm


def reset() -> None:
    """Forget every plugin (tests use this to load a different set)."""
    global _loaded
    for name, _ in list(pm.list_name_plugin()):
        pm.unregister(name=name)
    sources.clear()
    failures.clear()
    _loaded = False
    from vgen import registry

    registry.reset()
