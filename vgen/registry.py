"""Lookups by name over what the plugins registered: ``get("dit", "hunyuan-video")``, ``names("sampler")``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vgen.errors import UserError

# kind -> the hook that registers it
HOOKS = {
    "text_encoder": "register_text_encoders",
    "vae": "register_vaes",
    "dit": "register_dits",
    "sampler": "register_samplers",
    "schedule": "register_schedules",
    "pipeline": "register_pipelines",
    "curation_stage": "register_curation_stages",
    "audio_model": "register_audio_models",
    "exporter": "register_exporters",
}


@dataclass
class Backend:
    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    meta: dict = field(default_factory=dict)

    @property
    def description(self) -> str:
        return self.meta.get("description", "")


_backends: dict[str, dict[str, Backend]] | None = None


def reset() -> None:
    global _backends
    _backends = None


def _collect() -> dict[str, dict[str, Backend]]:
    from vgen import plugins

    pm = plugins.load_plugins()
    table: dict[str, dict[str, Backend]] = {kind: {} for kind in HOOKS}
    for kind, hook_name in HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            plugin_name = impl.plugin_name

            def register(name, factory, _kind=kind, _plugin=plugin_name, **meta):
                table[_kind][name] = Backend(_kind, name, factory, _plugin, meta)

            try:
                impl.function(register=register)
            except Exception as exc:
                plugins.failures.append(
                    plugins.PluginFailure(plugin_name, plugins.sources.get(plugin_name, "?"),
                                          f"{hook_name}: {type(exc).__name__}: {exc}")
                )
    return table


def backends() -> dict[str, dict[str, Backend]]:
    global _backends
    if _backends is None:
        _backends = _collect()
    return _backends


def names(kind: str) -> list[str]:
    return sorted(backends()[kind])


def get(kind: str, name: str) -> Backend:
    """The backend ``name`` of ``kind``; a UserError listing the known names when there is none."""
    table = backends()[kind]
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise UserError(f"unknown {kind.replace('_', ' ')} {name!r}; known: {known}")
    return table[name]


def build(kind: str, name: str, *args, **kwargs):
    """Shortcut: look up ``name`` and call its factory."""
    return get(kind, name).factory(*args, **kwargs)
