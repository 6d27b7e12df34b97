"""Model folders in the diffusers layout, for any model family that stores its parts the way diffusers does: a
module class and its config dataclass on one side, ``config.json`` + safetensors on the other.

``load_module`` builds the module with parameters on the meta device and streams the folder's tensors straight to
``device`` (``vgen.io.checkpoint.load_into``), so host memory stays near one copy of the weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from pathlib import Path

import torch

from vgen.errors import UserError

DIFFUSERS_VERSION = "0.32.1"  # written into saved configs; the layout has not changed since


@contextlib.contextmanager
def empty_weights():
    """Build modules with parameters on the meta device (no memory, no init cost); buffers stay real.

    Buffers (rotary frequencies, position ids) are small and usually not in checkpoints, so they are computed as
    usual; parameters are filled later by ``load_into``.
    """
    original = torch.nn.Module.register_parameter

    def register_parameter(module, name, param):
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            module._parameters[name] = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    torch.nn.Module.register_parameter = register_parameter
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = original


def make_config(config_cls, data: dict):
    """A config dataclass from a diffusers config.json dict (meta keys like ``_class_name`` ignored)."""
    if hasattr(config_cls, "from_dict"):
        return config_cls.from_dict(data)
    known = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})


def check_config_types(config_cls, data, path) -> None:
    """The config's schema is its dataclass: every known field must have its default's type (an int where an int
    is, a list where a tuple is; a float field takes an int), so a hand-edited config is one line, not a crash."""
    if not isinstance(data, dict):
        raise UserError(f"{path}: a config is a JSON object, got {type(data).__name__}")
    if not dataclasses.is_dataclass(config_cls):
        return
    kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,), tuple: (list, tuple), list: (list, tuple)}
    for f in dataclasses.fields(config_cls):
        if f.name not in data or data[f.name] is None:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        want = kinds.get(type(default))
        value = data[f.name]
        if want and (not isinstance(value, want) or (isinstance(value, bool) and bool not in want)):
            raise UserError(f"{path}: field {f.name!r} must be {type(default).__name__}, got {value!r}")
        if type(default) is int and default >= 0 and isinstance(value, int) and value < 0:  # sizes, counts
            raise UserError(f"{path}: field {f.name!r} must be >= 0, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"{path}: field {f.name!r} must be finite, got {value!r}")


def config_json(config, class_name: str) -> dict:
    """The config.json dict of a config dataclass, under diffusers' class name (tuples written as lists)."""
    data = config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)
    return {"_class_name": class_name, "_diffusers_version": DIFFUSERS_VERSION,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in data.items() if not k.startswith("_")}}


def load_module(model_cls, config_cls, folder: Path, device, dtype) -> torch.nn.Module:
    """Build on meta from ``folder/config.json`` and stream the folder's safetensors in (shape-checked); the module
    comes back in eval mode with gradients off."""
    from vgen.io.checkpoint import load_into, read_config

    data = read_config(folder)
    check_config_types(config_cls, data, Path(folder) / "config.json")
    try:
        config = make_config(config_cls, data)
        with empty_weights():
            model = model_cls(config)
    except (TypeError, ValueError, ZeroDivisionError, RuntimeError) as exc:  # a config it cannot be built from
        raise UserError(f"{Path(folder) / 'config.json'}: cannot build the model from it "
                        f"({type(exc).__name__}: {exc})".replace("\n", " ")) from None
    load_into(model, folder, dtype=dtype, device=device)
    return model.to(device=device).eval().requires_grad_(False)
