"""Model folders in the diffusers layout, for any model family that stores its parts the way diffusers does: a
module class and its config dataclass on one side, ``config.json`` + safetensors on the other.

``load_module`` builds the module with parameters on the meta device and streams the folder's tensors straight to
``device`` (``vgen.io.checkpoint.load_into``), so host memory stays near one copy of the weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import torch

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


def config_json(config, class_name: str) -> dict:
    """The config.json dict of a config dataclass, under diffusers' class name (tuples written as lists)."""
    data = config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)
    return {"_class_name": class_name, "_diffusers_version": DIFFUSERS_VERSION,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in data.items() if not k.startswith("_")}}


def load_module(model_cls, config_cls, folder: Path, device, dtype) -> torch.nn.Module:
    """Build on meta from ``folder/config.json`` and stream the folder's safetensors in (shape-checked); the module
    comes back in eval mode with gradients off."""
    from vgen.io.checkpoint import load_into, read_config

    config = make_config(config_cls, read_config(folder))
    with empty_weights():
        model = model_cls(config)
    load_into(model, folder, dtype=dtype, device=device)
    return model.to(device=device).eval().requires_grad_(False)
