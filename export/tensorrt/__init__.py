"""TensorRT: an engine built from the part's ONNX graph (profiles, fp16/bf16/fp8, timing cache); CUDA only.

The work is in ``vgen_export.tensorrt.engine`` (imported on use: the plugin scan imports this module at start-up).
"""

from __future__ import annotations

from vgen.contract.export import ExporterBase
from vgen.errors import UserError
from vgen.hookspecs import hookimpl

PRECISIONS = ("fp16", "bf16", "fp8")  # builder flags; unset: the export dtype


class Tensorrt(ExporterBase):
    name = "tensorrt"
    options = {"opset": 18, "precision": None, "timing_cache": None}

    def available(self) -> str:
        from vgen_export.onnx import version

        found = version("tensorrt", "tensorrt")
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(f"tensorrt {found} is installed but needs a CUDA GPU")
        return f"tensorrt {found}"

    def check(self, options: dict) -> None:
        from vgen_export.onnx.graph import check_opset

        check_opset(options["opset"])
        if options["precision"] is not None and options["precision"] not in PRECISIONS:
            raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}, got {options['precision']!r}")
        if options["device"].type != "cuda":
            raise UserError("tensorrt export needs --device cuda")

    def export(self, part, example, folder, options) -> list[str]:
        from vgen_export.tensorrt.engine import export

        return export(part, example, folder, options)

    def runtime(self, folder, part, device):
        from vgen_export.tensorrt.engine import TensorrtRuntime

        return TensorrtRuntime(folder, part, device)


@hookimpl
def register_exporters(register):
    register("tensorrt", Tensorrt,
             description="TensorRT engine from the ONNX graph (profiles, fp16/bf16/fp8, timing cache); CUDA only")
