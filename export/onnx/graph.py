"""The ONNX format's work: torch.onnx (dynamo) export with symbolic axes, onnx.checker, and the onnxruntime runtime.

TensorRT builds its engines from the graph written here (vgen_export.tensorrt).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vgen.errors import UserError
from vgen.export.parts import Part

MIN_OPSET = 18
EXTERNAL_DATA_BYTES = 2 * 1024**3  # protobuf's limit: bigger models keep their weights in a .data file beside the graph


def require(module: str, package: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{module} is not installed: pip install {package}") from None


def dynamic_shapes(part: Part) -> tuple:
    """Every role axis symbolic (torch.export works out which ones are equal)."""
    dim = torch.export.Dim.DYNAMIC
    # one entry: CallModule.forward takes the tensors as *args
    return (tuple({axis: dim for axis in axes} for axes in part.dynamic_axes()),)


def check_opset(opset: int) -> None:
    if opset < MIN_OPSET:
        raise UserError(f"--opset must be >= {MIN_OPSET} for the dynamo exporter, got {opset}")


@contextlib.contextmanager
def _quiet():
    """torch.onnx prints progress lines and warns about optional torchvision ops: keep vgen's output readable."""
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def _fused_rms_norm(input, normalized_shape: Sequence[int], weight=None, eps: float = None):  # noqa: RUF013
    """ONNX (opset 18) for ``aten._fused_rms_norm``, which torchlib lacks: on CUDA ``nn.RMSNorm``/``F.rms_norm``
    lower to it and torch.export keeps it (no decomposition applies to a device-fused op), so without this the
    export stops with "No ONNX function found". Same math as the kernel: ``x * rsqrt(mean(x^2) + eps) * weight`` in
    float32 (float64 for double), cast back to the input's type; returns (output, rstd) like the op."""
    from onnxscript import ir
    from onnxscript import opset18 as op

    double = input.dtype == ir.DataType.DOUBLE
    wide = ir.DataType.DOUBLE if double else ir.DataType.FLOAT
    if eps is None:  # the kernel's default: the accumulator type's machine epsilon
        eps = torch.finfo(torch.float64 if double else torch.float32).eps
    x = op.Cast(input, to=wide)
    axes = op.Constant(value_ints=list(range(-len(normalized_shape), 0)))
    mean_sq = op.ReduceMean(op.Mul(x, x), axes, keepdims=1)
    rstd = op.Reciprocal(op.Sqrt(op.Add(mean_sq, op.CastLike(op.Constant(value_float=eps), mean_sq))))
    out = op.Mul(x, rstd)
    if weight is not None:
        out = op.Mul(out, op.Cast(weight, to=wide))
    return op.CastLike(out, input), rstd


# ops torchlib has no ONNX function for, translated here (torch.onnx.export's documented custom_translation_table)
TRANSLATIONS = {torch.ops.aten._fused_rms_norm.default: _fused_rms_norm}


def param_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def export(part: Part, example: list[torch.Tensor], folder: Path, opset: int = MIN_OPSET,
           external_data: bool | None = None) -> list[str]:
    """Write ``<part>.onnx`` (+ ``<part>.onnx.data`` when over 2 GB, or when ``external_data``) into ``folder``;
    returns the file names."""
    require("onnxscript", "onnxscript")
    onnx = require("onnx", "onnx")
    check_opset(opset)
    path = folder / f"{part.name}.onnx"
    external = param_bytes(part.module) > EXTERNAL_DATA_BYTES if external_data is None else external_data
    with _quiet(), torch.no_grad():
        program = torch.onnx.export(part.module.eval(), tuple(example), input_names=part.input_names,
                                    output_names=[part.output], opset_version=opset, dynamo=True,
                                    dynamic_shapes=dynamic_shapes(part), verbose=False,
                                    custom_translation_table=TRANSLATIONS)
        program.save(str(path), external_data=external)
    onnx.checker.check_model(str(path))  # the path form also checks graphs whose weights are external
    files = [path.name]
    files += sorted(p.name for p in folder.glob(f"{part.name}.onnx.*") if p.name != path.name)
    return files


def providers(device: torch.device) -> list[str]:
    ort = require("onnxruntime", "onnxruntime (or onnxruntime-gpu for CUDA)")
    available = ort.get_available_providers()
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise UserError("onnxruntime here has no CUDA provider: pip uninstall onnxruntime && "
                            "pip install onnxruntime-gpu")
        return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


_NP = {torch.float32: np.float32, torch.float16: np.float16, torch.int64: np.int64, torch.int32: np.int32,
       torch.bool: np.bool_, torch.float64: np.float64}
_ORT_TYPES = {"tensor(float)": torch.float32, "tensor(float16)": torch.float16, "tensor(double)": torch.float64}


class OnnxRuntime:
    """Runs ``<part>.onnx`` on torch tensors; on CUDA the tensors are bound in place (no host copies)."""

    def __init__(self, folder: Path, part: dict, device: torch.device):
        ort = require("onnxruntime", "onnxruntime (or onnxruntime-gpu for CUDA)")
        self.device = torch.device(device)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / f"{part['name']}.onnx"), options,
                                            providers=providers(self.device))
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.output = self.session.get_outputs()[0].name
        self.out_dtype = _ORT_TYPES.get(self.session.get_outputs()[0].type, torch.float32)
        self._out_shapes: dict[tuple, tuple] = {}
        self.provider = self.session.get_providers()[0]

    def __call__(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        if self.device.type != "cuda":
            feed = {n: t.detach().cpu().contiguous().numpy() for n, t in zip(self.inputs, tensors, strict=True)}
            return torch.from_numpy(self.session.run([self.output], feed)[0])
        return self._run_cuda([t.contiguous() for t in tensors])

    def _run_cuda(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        binding = self.session.io_binding()
        index = self.device.index or 0
        for name, t in zip(self.inputs, tensors, strict=True):
            binding.bind_input(name, "cuda", index, _NP[t.dtype], list(t.shape), t.data_ptr())
        key = tuple(tuple(t.shape) for t in tensors)
        if key not in self._out_shapes:  # first call at these sizes: let onnxruntime allocate, learn the shape
            binding.bind_output(self.output, "cuda", index)
            torch.cuda.current_stream(self.device).synchronize()
            self.session.run_with_iobinding(binding)
            value = binding.get_outputs()[0]
            self._out_shapes[key] = tuple(value.shape())
            return torch.from_numpy(value.numpy()).to(self.device)
        out = torch.empty(self._out_shapes[key], dtype=self.out_dtype, device=self.device)
        binding.bind_output(self.output, "cuda", index, _NP[out.dtype], list(out.shape), out.data_ptr())
        torch.cuda.current_stream(self.device).synchronize()
        self.session.run_with_iobinding(binding)
        return out
