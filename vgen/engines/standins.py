"""Artifact-backed stand-ins for a pipeline's parts, so the same sampler loop runs on any registered format.

``pipe.transformer`` becomes an ``EngineModule`` whose forward has the original's signature (its weights are
released to the meta device); ``pipe.vae.decode`` and the text encoders' ``forward`` become ``EngineCall``s. Each
calls the format's ``Runtime`` (vgen.contract.export) with the part's tensors, cast to the dtypes the artifact was
exported with; the output goes back to the caller's dtype, wrapped the way the original returned it.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace

import torch

from vgen.engines import formats
from vgen.engines import manifest as manifest_io
from vgen.engines.manifest import dtype_of, weight_signature
from vgen.errors import UserError


def flat_arguments(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict:
    """Bound arguments by name, with a ``**kwargs`` parameter's items lifted to the top level."""
    bound = signature.bind(*args, **kwargs)
    out = dict(bound.arguments)
    for name, param in signature.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD and name in out:
            out.update(out.pop(name))
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            out.pop(name, None)
    return out


class EngineCall:
    """Calls the artifact with the arguments of the callable it replaces."""

    def __init__(self, runtime, part: dict, signature: inspect.Signature):
        self.runtime, self.part, self.signature = runtime, part, signature

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
            out = self.runtime(tensors)
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


PARTS = {"dit": "transformer", "vae_decoder": "vae", "text_encoder": "text_encoder",
         "text_encoder_2": "text_encoder_2"}  # exported part -> the pipeline attribute it stands in for


def apply_engine(pipe, engine: str, engine_dir: str | Path | None, device=None, release: bool = True):
    """Swap the parts exported in ``engine_dir`` (DiT, VAE decoder, text encoders) into ``pipe`` (in place) and
    return it; ``engine="torch"`` leaves it as it is. ``engine`` must name the folder's registered format.

    A missing, corrupt or mismatched engine folder, or one whose format no plugin registers, is a one-line
    UserError naming the file.
    """
    if engine == formats.TORCH:
        return pipe
    if engine_dir is None:
        formats.check_engine(engine)
        raise UserError(f"--engine {engine} needs --engine-dir (a folder written by vgen export {engine})")
    folder = Path(engine_dir).expanduser()
    manifest = manifest_io.load(folder, engine)
    exporter = formats.exporter(manifest["format"])
    modules = _modules(pipe, folder, manifest)
    info = {"engine": engine, "engine_dir": str(folder), "parts": {}}
    for name, part in manifest["parts"].items():
        module = modules[name]
        dev, dt = _device_dtype(module)
        runtime = exporter.runtime(folder, part, torch.device(device or dev))
        if name == "dit":
            call = EngineCall(runtime, part, inspect.signature(module.forward))
            if release:
                module.to("meta")
            pipe.transformer = EngineModule(call, module, dev, dt)
        else:  # the VAE keeps its encoder, the text encoders their weights (pipelines read their device/dtype)
            method = "decode" if name == "vae_decoder" else "forward"
            setattr(module, method, EngineCall(runtime, part, inspect.signature(getattr(module, method))))
        info["parts"][name] = runtime.provider
    pipe.engine_info = info
    return pipe


def _modules(pipe, folder: Path, manifest: dict) -> dict[str, torch.nn.Module]:
    """The pipeline's module behind each exported part, checked to be the model the part was exported from."""
    modules = {}
    for name in manifest["parts"]:
        if name not in PARTS:
            raise UserError(f"{folder / manifest_io.NAME}: unknown part {name!r} for vgen sample")
        modules[name] = getattr(pipe, PARTS[name], None)
        if not isinstance(modules[name], torch.nn.Module):
            raise UserError(f"{folder / manifest_io.NAME}: pipeline {pipe.name!r} has no {PARTS[name]} for part "
                            f"{name}")
        manifest_io.check_model(folder, manifest, name, weight_signature(modules[name]), getattr(pipe, "name", None))
    return modules
