"""``vgen info PATH``: what a video file, a pipeline folder (diffusers layout, e.g. the shipped weights), a model
folder, a LoRA or other safetensors file, or an engine folder (vgen export) holds, as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vgen.hookspecs import hookimpl

ENGINE_MANIFEST = "vgen-engine.json"  # vgen.engines.manifest.NAME (read as JSON here: no check, no torch)


def _tensors(items) -> dict:
    count, params, dtypes = 0, 0, set()
    for tensor in items:
        count += 1
        params += tensor.numel()
        dtypes.add(str(tensor.dtype).replace("torch.", ""))
    return {"tensors": count, "parameters": params, "dtypes": sorted(dtypes)}


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def describe_module(path: Path) -> dict:
    """A folder of one model's safetensors (+ config.json)."""
    from vgen.io.checkpoint import iter_state_dict, weight_files

    config = _json(path / "config.json") or {}
    return {"kind": "checkpoint", "path": str(path), "files": [f.name for f in weight_files(path)],
            **_tensors(t for _, t, _ in iter_state_dict(path)), "class": config.get("_class_name")}


def describe_pipeline(path: Path) -> dict:
    """A diffusers-layout pipeline folder: model_index.json and a folder per component."""
    index = _json(path / "model_index.json") or {}
    components = {}
    for name, spec in index.items():
        if name.startswith("_") or not (path / name).is_dir():
            continue
        library, cls = spec if isinstance(spec, list) and len(spec) == 2 else (None, None)
        entry = {"library": library, "class": cls}
        if any((path / name).glob("*.safetensors")):
            part = describe_module(path / name)
            entry.update({k: part[k] for k in ("files", "tensors", "parameters", "dtypes")})
        else:
            entry["files"] = sorted(f.name for f in (path / name).iterdir())
        components[name] = entry
    return {"kind": "pipeline", "path": str(path), "class": index.get("_class_name"),
            "parameters": sum(c.get("parameters", 0) for c in components.values()), "components": components}


def describe_engine(path: Path) -> dict:
    manifest = _json(path / ENGINE_MANIFEST) or {}
    parts = {name: {"files": sorted(part.get("files", {})),
                    "inputs": [i.get("name") if isinstance(i, dict) else i for i in part.get("inputs") or []],
                    "parity": part.get("parity")}
             for name, part in (manifest.get("parts") or {}).items()}
    return {"kind": "engine", "path": str(path), "format": manifest.get("format"), "dtype": manifest.get("dtype"),
            "precision": manifest.get("precision"), "pipeline": manifest.get("pipeline"),
            "vgen_version": manifest.get("vgen_version"), "created": manifest.get("created"), "parts": parts,
            "run": f"vgen sample ... --engine {manifest.get('format')} --engine-dir {path}"}


def describe_safetensors(path: Path) -> dict:
    """A LoRA file (diffusers' key format: prefix, layers, rank, what it was trained on) or any safetensors file."""
    from safetensors import safe_open

    from vgen.errors import UserError

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            keys = list(f.keys())
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in keys}
            dtypes = {_DTYPES.get(str(f.get_slice(k).get_dtype()), str(f.get_slice(k).get_dtype()).lower())
                      for k in keys}
    except Exception as exc:  # safetensors raises several types for a file that is not one
        raise UserError(f"{path}: not a safetensors file ({type(exc).__name__})") from None
    base = {"path": str(path), "tensors": len(keys), "dtypes": sorted(dtypes),
            "parameters": sum(_numel(s) for s in shapes.values()), "metadata": metadata}
    downs = [k for k in keys if ".lora_A." in k]
    if not downs:
        return {"kind": "safetensors", **base}
    prefixes = sorted({k.split(".", 1)[0] for k in downs})
    ranks = sorted({shapes[k][0] for k in downs})
    return {"kind": "lora", **base, "layers": len(downs), "rank": ranks[0] if len(ranks) == 1 else ranks,
            "prefixes": prefixes, "pipeline": metadata.get("vgen_pipeline"),
            "run": f"vgen sample ... --pipeline {metadata.get('vgen_pipeline') or 'P'} --lora {path}"}


_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64", "I64": "int64",
           "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool", "F8_E4M3": "float8_e4m3fn",
           "F8_E5M2": "float8_e5m2"}  # safetensors' names -> torch's, as the other kinds print them


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def describe(path: Path) -> dict:
    from vgen.errors import UserError

    if path.is_dir():
        if (path / ENGINE_MANIFEST).is_file():
            return describe_engine(path)
        if (path / "model_index.json").is_file():
            return describe_pipeline(path)
        return describe_module(path)
    if not path.exists():
        raise UserError(f"file not found: {path}")
    if path.suffix == ".safetensors":
        return describe_safetensors(path)
    from vgen.io.video import read_video

    video = read_video(path)
    t, h, w, _ = video.frames.shape
    return {"kind": "video", "path": str(path), "frames": t, "fps": round(video.fps, 3), "width": w, "height": h,
            "duration": round(video.duration, 3), "audio": None if video.audio is None else
            {"channels": video.audio.shape[0], "sample_rate": video.sample_rate,
             "seconds": round(video.audio.shape[1] / video.sample_rate, 3)}}


def info(path: Path = typer.Argument(..., help="A video, a pipeline or model folder, a LoRA or safetensors file, "
                                      "or an engine folder.")):
    """Print what a video, a weights folder (pipeline or model), a LoRA file or an engine folder holds, as JSON."""
    typer.echo(json.dumps(describe(path), indent=2))


@hookimpl
def register_commands(app):
    app.command("info")(info)
