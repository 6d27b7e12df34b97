"""The TensorRT format's work: an engine built from the part's ONNX graph (vgen_export.onnx) with the TensorRT
Python API (10.x), and the runtime that runs it on CUDA tensors.

Build: ONNX parser -> one optimization profile (min/opt/max per input, from role sizes) -> precision flags ->
timing cache (reused across builds when given) -> serialized ``<part>.plan`` plus ``<part>.plan.json`` describing
the profile, precision and TensorRT version. FP8 only takes effect on graphs with explicit Q/DQ nodes (TensorRT's
rule); the flag is passed through for such graphs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from vgen.errors import UserError
from vgen.export.parts import Part

FLAGS = {"fp16": ("FP16",), "bf16": ("BF16",), "fp8": ("FP8", "FP16")}


def require():
    try:
        import tensorrt as trt
    except ImportError:
        raise UserError("tensorrt is not installed: pip install tensorrt (needs an NVIDIA GPU with CUDA)") from None
    return trt


def export(part: Part, example: list[torch.Tensor], folder: Path, options: dict) -> list[str]:
    """The part's ONNX graph (in a staging folder, dropped after), then the engine built from it."""
    from vgen_export.onnx.graph import export as export_onnx

    require()  # before the (long) ONNX export
    staging = folder / f".{part.name}-onnx"
    staging.mkdir()
    export_onnx(part, example, staging, opset=options["opset"])
    files = build(part, staging / f"{part.name}.onnx", folder, options["ranges"],
                  precision=options["precision"] or options["dtype"], timing_cache=options["timing_cache"])
    shutil.rmtree(staging)
    return files


def profile_shapes(part: Part, ranges: dict[str, dict]) -> dict[str, dict[str, list[int]]]:
    """Per input: the concrete min/opt/max shapes of the role ranges ``{"min": dims, "opt": dims, "max": dims}``."""
    return {spec.name: {k: spec.concrete(ranges[k]) for k in ("min", "opt", "max")} for spec in part.inputs}


def build(part: Part, onnx_path: Path, folder: Path, ranges: dict, precision: str = "fp32",
          timing_cache: Path | None = None, workspace_gb: float | None = None) -> list[str]:
    trt = require()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UserError(f"{onnx_path}: TensorRT's ONNX parser failed: {errors}")
    config = builder.create_builder_config()
    for flag in FLAGS.get(precision, ()):
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if workspace_gb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * 1024**3))
    profile = builder.create_optimization_profile()
    shapes = profile_shapes(part, ranges)
    for name, s in shapes.items():
        profile.set_shape(name, s["min"], s["opt"], s["max"])
    config.add_optimization_profile(profile)
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.is_file() else b""
    config.set_timing_cache(config.create_timing_cache(cache_bytes), ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UserError(f"TensorRT could not build an engine for {part.name} (see the log above)")
    plan = folder / f"{part.name}.plan"
    plan.write_bytes(bytes(serialized))
    if timing_cache:
        from vgen.io.atomic import write_bytes

        write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    info = {"tensorrt": trt.__version__, "precision": precision, "profiles": [shapes], "ranges": ranges,
            "inputs": part.input_names, "output": part.output}
    (folder / f"{part.name}.plan.json").write_text(json.dumps(info, indent=2))
    return [plan.name, f"{part.name}.plan.json"]


_DTYPES = {"FLOAT": torch.float32, "HALF": torch.float16, "BF16": torch.bfloat16, "INT64": torch.int64,
           "INT32": torch.int32, "BOOL": torch.bool, "INT8": torch.int8}


class TensorrtRuntime:
    """Runs ``<part>.plan`` on CUDA tensors bound in place."""

    def __init__(self, folder: Path, part: dict, device: torch.device):
        trt = require()
        self.device = torch.device(device)
        if self.device.type != "cuda":
            raise UserError("--engine tensorrt runs on CUDA only; pass --device cuda")
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        path = folder / f"{part['name']}.plan"
        self.engine = self.runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise UserError(f"{path}: TensorRT could not load this engine (built by another TensorRT or GPU?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        self.provider = f"tensorrt-{trt.__version__}"

    def __call__(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        stream = torch.cuda.current_stream(self.device)
        keep = []
        for name, t in zip(self.inputs, tensors, strict=True):
            want = _DTYPES[self.engine.get_tensor_dtype(name).name]
            t = t.to(self.device, want).contiguous()
            keep.append(t)
            self.context.set_input_shape(name, tuple(t.shape))
            self.context.set_tensor_address(name, t.data_ptr())
        outs = []
        for name in self.outputs:
            out = torch.empty(tuple(self.context.get_tensor_shape(name)),
                              dtype=_DTYPES[self.engine.get_tensor_dtype(name).name], device=self.device)
            self.context.set_tensor_address(name, out.data_ptr())
            outs.append(out)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        return outs[0]
