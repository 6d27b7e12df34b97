"""The plugin manager: built-in backends, entry-point plugins and a plugins folder, all through the same hooks.

Built-in plugins are the subpackages of ``vgen_plugins`` (the repo's ``plugins/`` folder) and ``vgen_export``
(``export/``); the ``vgen`` command adds its own command modules (``vgen.cli``) when it builds the app, so that a
library import of vgen never imports the CLI. Third-party plugins come from the entry-point group ``vgen`` and from
single ``.py`` files (or packages) in the folder named by ``VGEN_PLUGINS_DIR``. ``VGEN_LOAD_PLUGINS=a,b`` loads only
the entry-point plugins named (an empty value loads none; a plugins folder, named on purpose, always loads).

A plugin that fails to import or register, registers a name twice, or defines functions that look like hooks but are
not (``register_sampler`` for ``register_samplers``) is recorded in ``failures``: one line each, never a crash.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pluggy

from vgen import hookspecs

BUILTIN_PACKAGES = ("vgen_plugins", "vgen_export")
BUILTIN = "built-in"
HOOK_NAMES = frozenset(name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
                       if hasattr(getattr(hookspecs, name), "vgen_spec"))


@dataclass
class PluginFailure:
    name: str
    source: str
    error: str

    def line(self) -> str:
        return f"plugin {self.name!r} ({self.source}): {self.error}"


pm = pluggy.PluginManager("vgen")
pm.add_hookspecs(hookspecs)
sources: dict[str, str] = {}  # plugin name -> where it came from
failures: list[PluginFailure] = []
commands: dict[str, list[str]] = {}  # plugin name -> the subcommands it added (filled when the CLI builds its app)
_reported = 0  # failures[:_reported] were printed already
_loaded = False


def fail(name: str, error: str) -> None:
    """Record a failure of plugin ``name`` (shown by ``vgen plugins`` and as one stderr line by every command)."""
    failures.append(PluginFailure(name, sources.get(name, "?"), error))


def unknown_hooks(plugin) -> list[str]:
    """Attributes of ``plugin`` that look like hooks but are none: marked @hookimpl under a name that is not a hook,
    or named (or misnamed) like a hook without the mark. Each with a suggestion where one is close."""
    found = []
    for attr in sorted(dir(plugin)):
        if attr.startswith("_"):
            continue
        marked = pm.parse_hookimpl_opts(plugin, attr) is not None
        if marked and attr in HOOK_NAMES:
            continue
        close = difflib.get_close_matches(attr, HOOK_NAMES, n=1, cutoff=0.8)
        obj = getattr(plugin, attr, None)
        defined_here = inspect.isfunction(obj) and obj.__module__ == getattr(plugin, "__name__", None)
        if marked:
            found.append(f"{attr} (did you mean {close[0]}?)" if close else attr)
        elif defined_here and (attr in HOOK_NAMES or close):
            hint = "not marked @hookimpl" if attr in HOOK_NAMES else f"did you mean {close[0]}?"
            found.append(f"{attr} ({hint})")
    return found


def register_module(name: str, source: str, load: Callable) -> None:
    """Import (``load()``) and register one plugin module; any failure is recorded, never raised."""
    try:
        module = load()
        pm.register(module, name=name)
        sources[name] = source
    except Exception as exc:  # a broken plugin must never take the CLI down
        failures.append(PluginFailure(name, source, f"failed to load: {type(exc).__name__}: {exc}"))
        return
    unknown = unknown_hooks(module)
    if unknown:
        fail(name, f"unknown hooks: {', '.join(unknown)}")


def package_modules(package_names: Iterable[str]):
    """The public modules and subpackages of each package (a package that is not installed is skipped)."""
    for package_name in package_names:
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
        if pm.has_plugin(name):
            continue

        def load(name=name, file=file):
            spec = importlib.util.spec_from_file_location(name, file, submodule_search_locations=None)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module

        register_module(name, f"dir:{path}", load)


def load_plugins(force: bool = False) -> pluggy.PluginManager:
    """Load every plugin once (idempotent unless ``force``)."""
    global _loaded
    if _loaded and not force:
        return pm
    _loaded = True
    for module_name in package_modules(BUILTIN_PACKAGES):
        if not pm.has_plugin(module_name):
            register_module(module_name, BUILTIN, lambda m=module_name: importlib.import_module(m))
    for ep in entry_points(group="vgen"):
        if _allowed(ep.name) and not pm.has_plugin(ep.name):
            register_module(ep.name, f"entry point:{ep.value}", ep.load)
    plugins_dir = os.environ.get("VGEN_PLUGINS_DIR")
    if plugins_dir:
        path = Path(plugins_dir).expanduser()
        if path.is_dir():
            _load_from_dir(path)
        else:
            failures.append(PluginFailure(str(path), "VGEN_PLUGINS_DIR", "failed to load: not a directory"))
    from vgen import registry

    registry.reset()
    return pm


def unreported() -> list[PluginFailure]:
    """The failures not printed yet (each is printed once per process)."""
    global _reported
    new = failures[_reported:]
    _reported = len(failures)
    return new


def reset() -> None:
    """Forget every plugin (tests use this to load a different set)."""
    global _loaded, _reported
    for name, _ in list(pm.list_name_plugin()):
        pm.unregister(name=name)
    sources.clear()
    failures.clear()
    commands.clear()
    _loaded = False
    _reported = 0
    from vgen import registry

    registry.reset()
