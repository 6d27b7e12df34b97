"""ONNX: torch.onnx (dynamo) export with symbolic axes, checked by onnx.checker, run by onnxruntime (CUDA or CPU).

The work is in ``vgen_export.onnx.graph`` (imported on use: the plugin scan imports this module at start-up).
"""

from __future__ import annotations

import importlib

from vgen.contract.export import ExporterBase
from vgen.hookspecs import hookimpl


def version(module: str, package: str) -> str:
    """``module``'s version; RuntimeError naming the package to install when it is missing."""
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except ImportError:
        raise RuntimeError(f"{module} is not installed: pip install {package}") from None


class Onnx(ExporterBase):
    name = "onnx"
    # external_data None: weights go to a .data file beside the graph only past protobuf's 2 GB limit
    options = {"opset": 18, "external_data": None}

    def available(self) -> str:
        """onnx + onnxscript to export, onnxruntime to run (its providers say whether CUDA is possible)."""
        parts = [f"onnx {version('onnx', 'onnx')}", f"onnxscript {version('onnxscript', 'onnxscript')}"]
        ort_version = version("onnxruntime", "onnxruntime")
        import onnxruntime

        providers = [p.removesuffix("ExecutionProvider") for p in onnxruntime.get_available_providers()
                     if p in ("CUDAExecutionProvider", "CPUExecutionProvider", "TensorrtExecutionProvider")]
        parts.append(f"onnxruntime {ort_version} ({', '.join(providers)})")
        if "CUDA" not in providers:
            parts.append("CPU only: pip install onnxruntime-gpu for CUDA")
        return ", ".join(parts)

    def check(self, options: dict) -> None:
        from vgen_export.onnx.graph import check_opset

        check_opset(options["opset"])

    def export(self, part, example, folder, options) -> list[str]:
        from vgen_export.onnx.graph import export

        return export(part, example, folder, opset=options["opset"], external_data=options["external_data"])

    def gate_skipped(self, options: dict) -> str | None:
        if options["dtype"] == "bf16":  # numpy, hence onnxruntime's Python API, has no bfloat16
            return ("bf16 ONNX cannot run in onnxruntime from Python; vgen export tensorrt --dtype bf16 checks the "
                    "engine built from it")
        return None

    def runtime(self, folder, part, device):
        from vgen_export.onnx.graph import OnnxRuntime

        return OnnxRuntime(folder, part, device)


@hookimpl
def register_exporters(register):
    register("onnx", Onnx,
             description="ONNX (torch.onnx dynamo, opset>=18, dynamic shapes); runs in onnxruntime (CUDA or CPU)")
