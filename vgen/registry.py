"""Lookups by name over what the plugins registered: ``get("sampler", "flow-euler")``, ``names("schedule")``.

Every ``register_*`` hook gets a ``register(name, factory, override=False, **meta)`` callback. A name registered
twice is refused (the first stays, the second plugin's failure names both) unless the second passes
``override=True``: then it wins and ``vgen plugins`` shows whose backend it overrides. ``PROTOCOLS[kind]`` is the
Protocol (vgen.contract) that what a factory of that kind builds implements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vgen.errors import UserError

# kind -> the hook that registers it
HOOKS = {
    "sampler": "register_samplers",
    "schedule": "register_schedules",
    "pipeline": "register_pipelines",
    "curation_stage": "register_curation_stages",
    "exporter": "register_exporters",
    "editor": "register_editors",
    "audio_model": "register_audio_models",
    "video_features": "register_video_features",
    "training_target": "register_training_targets",
}


def __getattr__(name: str):
    # PROTOCOLS imports vgen.contract (and torch) only when asked for: a registry lookup stays light
    if name == "PROTOCOLS":
        from vgen import contract

        return {
            "sampler": contract.Sampler,
            "schedule": contract.Schedule,
            "pipeline": contract.VideoPipeline,
            "curation_stage": contract.CurationStage,
            "exporter": contract.Exporter,
            "editor": contract.Editor,
            "audio_model": contract.AudioModel,
            "video_features": contract.VideoFeatures,
            "training_target": contract.TrainingTarget,
        }
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Backend:
    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    meta: dict = field(default_factory=dict)
    overrides: str | None = None  # the plugin whose backend of the same name this one replaced

    @property
    def description(self) -> str:
        return self.meta.get("description", "")


_backends: dict[str, dict[str, Backend]] | None = None


def reset() -> None:
    global _backends
    _backends = None


def _registrar(table: dict[str, Backend], kind: str, plugin: str):
    from vgen import plugins

    def register(name: str, factory: Callable[..., Any], override: bool = False, **meta) -> None:
        old = table.get(name)
        if old is not None and not override:
            plugins.fail(plugin, f"{kind.replace('_', ' ')} {name!r} is already registered by plugin {old.plugin!r} "
                                 f"(pass override=True to replace it)")
            return
        table[name] = Backend(kind, name, factory, plugin, meta, overrides=old.plugin if old else None)

    return register


def _collect() -> dict[str, dict[str, Backend]]:
    from vgen import plugins

    pm = plugins.load_plugins()
    table: dict[str, dict[str, Backend]] = {kind: {} for kind in HOOKS}
    for kind, hook_name in HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():  # in load order: built-ins first
            try:
                impl.function(register=_registrar(table[kind], kind, impl.plugin_name))
            except Exception as exc:
                plugins.fail(impl.plugin_name, f"{hook_name}: {type(exc).__name__}: {exc}")
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
