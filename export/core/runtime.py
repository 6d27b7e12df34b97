"""Artifact-backed stand-ins for a pipeline's parts, so the same sampler loop runs on ONNX/TensorRT/AOTI.

``pipe.transformer`` becomes an ``EngineModule`` whose forward has the original's signature (its weights are
released to the meta device); ``pipe.vae.decode`` and the text encoders' ``forward`` become ``EngineCall``s. Inputs are cast to the dtypes the
artifact was exported with, the output back to the caller's dtype and wrapped the way the original returned it.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace

import torch
from vgen_export.core import manifest as manifest_io
from vgen_export.core.exporting import _runner
from vgen_export.core.parts import dtype_of, flat_arguments, weight_signature

from vgen.errors import UserError

ENGINES = ("torch", "onnx", "tensorrt", "aoti")


class EngineCall:
    """Calls the artifact with the arguments of the callable it replaces."""

    def __init__(self, runner, part: dict, signature: inspect.Signature):
        self.runner, self.part, self.signature = runner, part, signature

    def __call__(self, *args, **kwargs):
        arguments = flat_arguments(self.signature, args, kwargs)
        tensors, caller = [], None
        for spec in self.part["inputs"]:
            value = arguments.get(spec["name"])
            if not isinstance(value, torch.Tensor):
                raise UserError(f"the exported {self.part['name']} needs input {spec['name']!r}, which was not given "
                                f"(export again with the same options, e.g. embedded guidance)")
            if caller is None and value.is_floating_point():
                caller = value
            tensors.append(value.to(dtype_of(spec["dtype"])))
        with torch.no_grad():
            out = self.runner(tensors)
        out = out.to(tensors[0].device)
        if caller is not None:
            out = out.to(caller.dtype)
        returns = self.part.get("returns", "tensor")
        if returns == "select":
            return Selected(self.part["select"], out)
        if returns == "tuple":
            return (out,)
        return SimpleNamespace(sample=out) if returns == "sample" else out


class Selected:
    """Stands in for a model output of which one field was exported, e.g. ``out.hidden_states[-3]``."""

    def __init__(self, path: list, value: torch.Tensor):
        self._path, self._value = list(path), value

    def _step(self, key):
        if key != self._path[0]:
            raise AttributeError(f"only {'.'.join(map(str, self._path))} of this output was exported, not {key!r}")
        return self._value if len(self._path) == 1 else Selected(self._path[1:], self._value)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._step(name)

    def __getitem__(self, key):
        return self._step(key)


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
    modules = {}
    for name in manifest["parts"]:
        if name not in ("dit", "vae_decoder", "text_encoder", "text_encoder_2"):
            raise UserError(f"{folder / manifest_io.NAME}: unknown part {name!r} for vgen sample")
        module = {"dit": "transformer", "vae_decoder": "vae"}.get(name, name)
        modules[name] = getattr(pipe, module, None)
        if not isinstance(modules[name], torch.nn.Module):
            raise UserError(f"{folder / manifest_io.NAME}: pipeline {pipe.name!r} has no {module} for part {name}")
        manifest_io.check_model(folder, manifest, name, weight_signature(modules[name]), getattr(pipe, "name", None))
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
        else:  # the VAE keeps its encoder, the text encoders their weights (pipelines read their device/dtype)
            module = modules[name]
            method = "decode" if name == "vae_decoder" else "forward"
            dev, _ = _device_dtype(module)
            runner = _runner(engine, folder, part, torch.device(device or dev))
            setattr(module, method, EngineCall(runner, part, inspect.signature(getattr(module, method))))
        info["parts"][name] = runner.provider
    pipe.engine_info = info
    return pipe
