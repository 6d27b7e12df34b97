"""The registered export formats by name: ``exporter("onnx")``; ``--engine torch`` is PyTorch itself, no format."""

from __future__ import annotations

from vgen import registry
from vgen.contract.export import Exporter, ExporterBase
from vgen.errors import UserError

TORCH = "torch"  # `vgen sample --engine torch`: the pipeline as loaded, no exported artifacts


def names() -> list[str]:
    return registry.names("exporter")


def exporter(name: str, what: str = "export format") -> Exporter:
    """The exporter registered as ``name``; one-line UserErrors for an unknown name or a broken plugin."""
    table = registry.backends()["exporter"]
    if name not in table:
        known = [TORCH, *names()] if what == "engine" else names()
        raise UserError(f"unknown {what} {name!r}; registered: {', '.join(known) or 'none'}")
    backend = table[name]
    built = backend.factory()
    if not isinstance(built, Exporter):
        missing = [m for m in vars(ExporterBase) if not m.startswith("_") and not hasattr(built, m)]
        raise UserError(f"exporter {name!r} of plugin {backend.plugin!r} is not an Exporter "
                        f"(vgen.contract.export): it lacks {', '.join(missing)}")
    if built.name != name:
        raise UserError(f"exporter registered as {name!r} by plugin {backend.plugin!r} calls itself {built.name!r}; "
                        f"engine folders record the name, so the two must agree")
    return built


def check_engine(name: str) -> None:
    """``vgen sample --engine NAME``: torch or a registered format (a one-line UserError listing them otherwise)."""
    if name != TORCH:
        exporter(name, "engine")
