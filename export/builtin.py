"""The built-in exporters (onnx, tensorrt, aoti) and whether each one, and the runtime behind it, can run here.

Light on purpose: the plugin scan imports this at every start-up; the work is in ``vgen_export.core``.
"""

from __future__ import annotations

import importlib
import shutil

from vgen.hookspecs import hookimpl


def _version(module: str, package: str) -> str:
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except ImportError:
        raise RuntimeError(f"{module} is not installed: pip install {package}") from None


def onnx_available() -> str:
    """onnx + onnxscript to export, onnxruntime to run (its providers say whether CUDA is possible)."""
    parts = [f"onnx {_version('onnx', 'onnx')}", f"onnxscript {_version('onnxscript', 'onnxscript')}"]
    import onnxruntime

    providers = [p.removesuffix("ExecutionProvider") for p in onnxruntime.get_available_providers()
                 if p in ("CUDAExecutionProvider", "CPUExecutionProvider", "TensorrtExecutionProvider")]
    parts.append(f"onnxruntime {onnxruntime.__version__} ({', '.join(providers)})")
    if "CUDA" not in providers:
        parts.append("CPU only: pip install onnxruntime-gpu for CUDA")
    return ", ".join(parts)


def tensorrt_available() -> str:
    version = _version("tensorrt", "tensorrt")
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError(f"tensorrt {version} is installed but needs a CUDA GPU")
    return f"tensorrt {version}"


def aoti_available() -> str:
    import torch

    compiler = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if compiler is None:
        raise RuntimeError("AOTInductor needs a C++ compiler (e.g. apt-get install g++)")
    where = "cpu, cuda" if torch.cuda.is_available() else "cpu"
    return f"torch {torch.__version__} ({where}), {compiler}"


class Exporter:
    """``build("exporter", "onnx")(parts, out, shapes=..., dtype=...)`` -> the engine directory's manifest."""

    def __init__(self, fmt: str):
        self.format = fmt

    def __call__(self, parts, out, **options) -> dict:
        from vgen_export.core.exporting import export_parts

        return export_parts(parts, self.format, out, **options)


@hookimpl
def register_exporters(register):
    register("onnx", lambda: Exporter("onnx"), available=onnx_available,
             description="ONNX (torch.onnx dynamo, opset>=18, dynamic shapes); runs in onnxruntime (CUDA or CPU)")
    register("tensorrt", lambda: Exporter("tensorrt"), available=tensorrt_available,
             description="TensorRT engine from the ONNX graph (profiles, fp16/bf16/fp8, timing cache); CUDA only")
    register("aoti", lambda: Exporter("aoti"), available=aoti_available,
             description="AOTInductor .pt2 package (torch.export + ahead-of-time compile) for cpu or cuda")
