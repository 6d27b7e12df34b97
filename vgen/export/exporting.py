"""One ``vgen export`` run: each part -> artifact in a temporary folder -> parity gate -> manifest -> rename.

Nothing is left at ``out`` unless every part passed its gate (the folder appears whole, or not at all).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from vgen import __version__, console
from vgen.contract.export import Exporter
from vgen.engines import formats
from vgen.engines import manifest as manifest_io
from vgen.errors import UserError
from vgen.export import parity
from vgen.export.parts import DTYPES, ROLES, Part
from vgen.io.atomic import atomic_dir
from vgen.io.outputs import claim_dir, mark


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


def format_options(exporter: Exporter, given: dict) -> dict:
    """The format's options: each it reads from ``given`` (unset: its default); a set one it does not read is an
    error, so that no artifact is silently built without what was asked for."""
    extra = [k for k, v in given.items() if v is not None and k not in exporter.options]
    if extra:
        reads = ", ".join(exporter.options) or "none"
        raise UserError(f"{exporter.name} export has no option {extra[0]!r} (it reads: {reads})")
    return {k: given[k] if given.get(k) is not None else default for k, default in exporter.options.items()}


def prepare(fmt: str | Exporter, dtype: str, device, ranges: dict | None, given: dict) -> tuple[Exporter, dict]:
    """The exporter and its full options, checked before any model is touched."""
    exporter = formats.exporter(fmt) if isinstance(fmt, str) else fmt
    if dtype not in DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    try:
        exporter.available()
    except RuntimeError as exc:
        raise UserError(f"{exporter.name} export is not available here: {exc}") from None
    opts = {"dtype": dtype, "device": torch.device(device), "ranges": ranges, **format_options(exporter, given)}
    exporter.check(opts)
    return exporter, opts


def export_parts(parts: list[Part], fmt: str | Exporter, out: str | Path, *, dtype: str = "fp32", device="cpu",
                 shapes: list[dict], ranges: dict | None = None, tolerance: float | None = None,
                 info: dict | None = None, overwrite: bool = False, **options) -> dict:
    """Export ``parts`` with the registered format ``fmt`` into the engine folder ``out``; returns the manifest
    written there.

    ``shapes`` are the two role-size dicts of the parity gate; ``ranges`` ({"min","opt","max"} role sizes) give the
    span of sizes to support (e.g. TensorRT's optimization profile) and the trace sizes (default: spanning
    ``shapes``); ``options`` are the format's own (``opset=``, ``precision=`` ...).
    """
    ranges = ranges or {"min": {r: min(s[r] for s in shapes) for r in shapes[0]}, "opt": dict(shapes[0]),
                        "max": {r: max(s[r] for s in shapes) for r in shapes[0]}}
    exporter, opts = prepare(fmt, dtype, device, ranges, options)
    device = opts["device"]
    precision = opts.get("precision") or dtype  # a format may compute below its inputs' dtype (TensorRT fp8)
    tol = tolerance if tolerance is not None else parity.TOLERANCE.get(precision, parity.TOLERANCE[dtype])
    out = Path(out).expanduser()
    state = claim_dir(out, "export", overwrite=overwrite, create=False)  # never over what vgen export did not write
    entries = {}
    with atomic_dir(out, replace=state != "new") as tmp:
        mark(tmp, "export")
        for part in parts:
            entries[part.name] = _export_part(exporter, part, tmp, opts, shapes, tol)
        manifest = {"format": exporter.name, "dtype": dtype, "precision": precision,
                    **{k: _plain(opts[k]) for k in exporter.options if k != "precision"}, "tolerance": tol,
                    "device": device.type, "vgen_version": __version__, "torch_version": torch.__version__,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "shapes": {"parity": shapes, **ranges},
                    "parts": entries, **(info or {})}
        manifest_io.write(tmp, manifest)
    console.info(f"wrote {exporter.name} engine directory {out} ({', '.join(entries)})")
    return manifest


def _plain(value):
    return str(value) if isinstance(value, Path) else value


def _export_part(exporter: Exporter, part: Part, folder: Path, opts: dict, shapes: list[dict], tol: float) -> dict:
    """One part: artifact files in ``folder``, then the parity gate; returns its manifest entry."""
    start = time.perf_counter()
    dtype, device = opts["dtype"], opts["device"]
    part.cast(DTYPES[dtype]).module.to(device).eval()
    example = part.make_inputs(example_dims(part, opts["ranges"]["opt"]), device=device,
                               generator=torch.Generator().manual_seed(0))
    console.info(f"exporting {part.name} as {exporter.name} ({dtype}, {device.type}) ...")
    files = exporter.export(part, example, folder, opts)
    meta = {"name": part.name, "inputs": [i.to_json() for i in part.inputs], "output": part.output,
            "returns": part.returns, "signature": part.signature, "device": device.type,
            "multiples": part.multiples, **part.meta, "files": manifest_io.file_entries(folder, files)}
    skipped = exporter.gate_skipped(opts)
    if skipped:
        console.warn(f"parity gate skipped for {part.name} ({exporter.name}): {skipped}")
        meta["parity"] = f"skipped: {skipped}"
    else:
        runtime = exporter.runtime(folder, meta, device)
        meta["parity"] = parity.check(part, runtime, shapes, tol, exporter.name, device=device)
        meta["provider"] = runtime.provider
        del runtime
    meta["seconds"] = round(time.perf_counter() - start, 2)
    return meta
