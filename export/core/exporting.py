"""One ``vgen export`` run: each part -> artifact in a temporary folder -> parity gate -> manifest -> rename.

Nothing is left at ``out`` unless every part passed its gate (the folder appears whole, or not at all).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
from vgen_export.core import manifest as manifest_io
from vgen_export.core import parity
from vgen_export.core.parts import DTYPES, ROLES, Part

from vgen import __version__, console
from vgen.errors import UserError
from vgen.io.atomic import atomic_dir

FORMATS = ("onnx", "tensorrt", "aoti")


def example_dims(part: Part, opt: dict) -> dict[str, int]:
    """Sizes to trace at: ``opt`` when every role is >= 2 and distinct (torch.export would fix sizes of 1 and may
    tie equal sizes together), else small distinct multiples."""
    roles = [r for r in ROLES if r in part.roles()]
    values = [opt.get(r, 0) for r in roles]
    if all(v >= 2 for v in values) and len(set(values)) == len(values):
        return dict(opt)
    out, used = dict(opt), set()
    for r in roles:
        m, k = part.multiples.get(r, 1), 2
        while k * m in used:
            k += 1
        out[r] = k * m
        used.add(k * m)
    return out


def _runner(fmt: str, folder: Path, meta: dict, device: torch.device):
    if fmt == "onnx":
        from vgen_export.core.onnx_format import Runner
    elif fmt == "aoti":
        from vgen_export.core.aoti_format import Runner
    else:
        from vgen_export.core.tensorrt_format import Runner
    return Runner(folder, meta, device)


def _write_artifact(fmt: str, part: Part, example: list, folder: Path, opts: dict) -> list[str]:
    if fmt == "aoti":
        from vgen_export.core import aoti_format

        return aoti_format.export(part, example, folder)
    from vgen_export.core import onnx_format

    if fmt == "onnx":
        return onnx_format.export(part, example, folder, opset=opts.get("opset", onnx_format.MIN_OPSET),
                                  external_data=opts.get("external_data"))
    from vgen_export.core import tensorrt_format

    tensorrt_format.require()  # before the (long) ONNX export
    staging = folder / f".{part.name}-onnx"
    staging.mkdir()
    onnx_format.export(part, example, staging, opset=opts.get("opset", onnx_format.MIN_OPSET))
    files = tensorrt_format.build(part, staging / f"{part.name}.onnx", folder, opts["ranges"],
                                  precision=opts.get("precision") or opts["dtype"],
                                  timing_cache=opts.get("timing_cache"))
    shutil.rmtree(staging)
    return files


def export_parts(parts: list[Part], fmt: str, out: str | Path, *, dtype: str = "fp32", device="cpu",
                 shapes: list[dict], ranges: dict | None = None, opset: int = 18, tolerance: float | None = None,
                 precision: str | None = None, timing_cache: Path | None = None, info: dict | None = None,
                 external_data: bool | None = None) -> dict:
    """Export ``parts`` as ``fmt`` into the engine directory ``out``; returns the manifest written there.

    ``shapes`` are the two role-size dicts of the parity gate; ``ranges`` ({"min","opt","max"} role sizes) give
    TensorRT's optimization profile and the trace sizes (default: spanning ``shapes``).
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    if dtype not in DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    device = torch.device(device)
    ranges = ranges or {"min": {r: min(s[r] for s in shapes) for r in shapes[0]}, "opt": dict(shapes[0]),
                        "max": {r: max(s[r] for s in shapes) for r in shapes[0]}}
    tol = tolerance if tolerance is not None else parity.TOLERANCE[precision or dtype]
    opts = {"opset": opset, "ranges": ranges, "dtype": dtype, "precision": precision, "timing_cache": timing_cache,
            "external_data": external_data}  # external_data None: only for graphs over 2 GB
    out = Path(out).expanduser()
    entries = {}
    with atomic_dir(out) as tmp:
        for part in parts:
            start = time.perf_counter()
            part.cast(DTYPES[dtype]).module.to(device).eval()
            example = part.make_inputs(example_dims(part, ranges["opt"]), device=device,
                                       generator=torch.Generator().manual_seed(0))
            console.info(f"exporting {part.name} as {fmt} ({dtype}, {device.type}) ...")
            files = _write_artifact(fmt, part, example, tmp, opts)
            meta = {"name": part.name, "inputs": [i.to_json() for i in part.inputs], "output": part.output,
                    "returns": part.returns, "signature": part.signature, "device": device.type,
                    "multiples": part.multiples, **part.meta}
            if fmt == "onnx" and dtype == "bf16":  # numpy, hence onnxruntime's Python API, has no bfloat16
                console.warn("parity gate skipped for bf16 ONNX (onnxruntime's Python API cannot feed bfloat16); "
                             "vgen export tensorrt --dtype bf16 checks the engine built from it")
                meta["parity"] = "skipped: bf16 ONNX cannot run in onnxruntime from Python"
            else:
                runner = _runner(fmt, tmp, meta, device)
                meta["parity"] = parity.check(part, runner, shapes, tol, fmt, device=device)
                meta["provider"] = runner.provider
                del runner
            meta["files"] = manifest_io.file_entries(tmp, files)
            meta["seconds"] = round(time.perf_counter() - start, 2)
            entries[part.name] = meta
        manifest = {"format": fmt, "dtype": dtype, "precision": precision or dtype, "opset": opset if fmt != "aoti"
                    else None, "tolerance": tol, "device": device.type, "vgen_version": __version__,
                    "torch_version": torch.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "shapes": {"parity": shapes, **ranges}, "parts": entries, **(info or {})}
        manifest_io.write(tmp, manifest)
    console.info(f"wrote {fmt} engine directory {out} ({', '.join(entries)})")
    return manifest
