"""Artifact-backed stand-ins for a pipeline's parts, so the same sampler loop runs on ONNX/TensorRT/AOTI.

``pipe.transformer`` becomes an ``EngineModule`` whose forward has the original's signature (its weights are
released to the meta device); ``pipe.vae.decode`` becomes an ``EngineCall``. Inputs are cast to the dtypes the
artifact was exported with, the output back to the caller's dtype and wrapped the way the original returned it.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace

import torch
from vgen_export.core import manifest as manifest_io
from vgen_export.core.exporting import _runner
from vgen_export.core.parts import dtype_of, weight_signature

from vgen.errors import UserError

ENGINES = ("torch", "onnx", "tensorrt", "aoti")


class EngineCall:
    """Calls the artifact with the arguments of the callable it replaces."""

    def __init__(self, runner, part: dict, signature: inspect.Signature):
        self.runner, self.part, self.signature = runner, part, signature

    def __call__(self, *args, **kwargs):
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        tensors, caller = [], None
        for spec in self.part["inputs"]:
            value = bound.arguments.get(spec["name"])
            if not isinstance(value, torch.Tensor):
                raise UserError(f"the exported {self.part['name']} needs input {spec['name']!r}, which was not given "
                                f"(export again with the same options, e.g. embedded guidance)")
            if caller is None and value.is_floating_point():
                caller = value
            tensors.append(value.to(dtype_of(spec["dtype"])))
        with torch.no_grad():
            out = self.runner(tensors)
        if caller is not None:
            out = out.to(device=caller.device, dtype=caller.dtype)
        returns = self.part.get("returns", "tensor")
        if returns == "tuple":
            return (out,)
        return SimpleNamespace(sample=out) if returns == "sample" else out


class EngineModule(torch.nn.Module):
    """An nn.Module with no weights that forwards to an artifact; other attributes come from the original."""

    def __init__(self, call: EngineCall, original: torch.nn.Module, device: torch.device, dtype: torch.dtype):
        super().__init__()
        self.call = call
        self._device, self._dtype = device, dtype
        # an empty parameter: pipelines read their device/dtype from next(transformer.parameters())
        self.anchor = torch.nn.Parameter(torch.empty(0, device=device, dtype=dtype), requires_grad=False)
        object.__setattr__(self, "_shell", original)  # not a submodule: its (released) weights stay out of sight

    def forward(self, *args, **kwargs):
        return self.call(*args, **kwargs)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            shell = self.__dict__.get("_shell")
            if shell is None:
                raise
            return getattr(shell, name)


def _device_dtype(module: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in module.parameters():
        return p.device, p.dtype
    return torch.device("cpu"), torch.float32


def apply(pipe, engine: str, engine_dir: str | Path | None, device=None, release: bool = True):
    """Swap the parts in ``engine_dir`` into ``pipe`` (in place); ``engine="torch"`` leaves it as it is."""
    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if engine == "torch":
        return pipe
    if engine_dir is None:
        raise UserError(f"--engine {engine} needs --engine-dir (a folder written by vgen export {engine})")
    folder = Path(engine_dir).expanduser()
    manifest = manifest_io.load(folder, engine)
    for name in manifest["parts"]:
        if name not in ("dit", "vae_decoder"):
            raise UserError(f"{folder / manifest_io.NAME}: unknown part {name!r} for vgen sample")
        module = pipe.transformer if name == "dit" else pipe.vae
        manifest_io.check_model(folder, manifest, name, weight_signature(module), getattr(pipe, "name", None))
    info = {"engine": engine, "engine_dir": str(folder), "parts": {}}
    for name, part in manifest["parts"].items():
        if name == "dit":
            original = pipe.transformer
            dev, dt = _device_dtype(original)
            runner = _runner(engine, folder, part, torch.device(device or dev))
            call = EngineCall(runner, part, inspect.signature(original.forward))
            if release:
                original.to("meta")
            pipe.transformer = EngineModule(call, original, dev, dt)
        else:
            dev, _ = _device_dtype(pipe.vae)
            runner = _runner(engine, folder, part, torch.device(device or dev))
            pipe.vae.decode = EngineCall(runner, part, inspect.signature(pipe.vae.decode))
        info["parts"][name] = runner.provider
    pipe.engine_info = info
    return pipe
