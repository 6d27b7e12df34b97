"""``vgen-engine.json``: what an engine directory holds (format name, parts, files with sha256, shapes, dtype, parity).

``load`` checks everything before any artifact is opened, so a corrupt, partial or mismatched directory fails with
one line naming the file at fault. Dtypes are written by their torch names; each part carries a ``weight_signature``
of the model it came from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from pydantic import BaseModel, Field, ValidationError

from vgen.engines import formats
from vgen.errors import UserError
from vgen.io.digest import sha256

NAME = "vgen-engine.json"
VERSION = 1


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def dtype_of(name: str) -> torch.dtype:
    return getattr(torch, name)


def weight_signature(module: torch.nn.Module) -> str:
    """A short hash of parameter names and shapes and the config's numbers, so an engine built from another model is
    caught (config strings and dtypes are left out: the same model loaded in another precision must still match)."""
    h = hashlib.sha256()
    for name, p in sorted(module.state_dict().items()):
        h.update(f"{name}:{tuple(p.shape)};".encode())
    config = getattr(module, "config", None)
    data = config.to_dict() if hasattr(config, "to_dict") else vars(config) if config is not None else {}
    for key, value in sorted(data.items()):
        if not key.startswith("_") and isinstance(value, (int, float, tuple, list)):
            h.update(f"{key}={value};".encode())
    return h.hexdigest()[:16]


def file_entries(folder: Path, names: list[str]) -> dict[str, dict]:
    return {n: {"bytes": (folder / n).stat().st_size, "sha256": sha256(folder / n)} for n in names}


def write(folder: Path, manifest: dict) -> Path:
    from vgen.io.atomic import write_text

    path = folder / NAME
    write_text(path, json.dumps({"manifest_version": VERSION, **manifest}, indent=2))
    return path


def load(folder: str | Path, engine: str | None = None, verify: bool = True) -> dict:
    """The manifest of ``folder`` after checking it and every file it lists (sizes, then sha256)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UserError(f"engine directory not found: {folder}")
    path = folder / NAME
    if not path.is_file():
        raise UserError(f"{path}: missing; not an engine directory (make one with vgen export)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: corrupt engine manifest ({type(exc).__name__}: {exc})".replace("\n", " ")) from None
    check_schema(path, manifest)
    parts, fmt = manifest["parts"], manifest["format"]
    if engine is not None and fmt != engine:
        raise UserError(f"{path}: this engine directory holds {fmt} artifacts, not {engine}")
    if fmt not in formats.names():  # its plugin is gone: nothing here can run the folder
        raise UserError(f"{path}: format {fmt!r} is not registered by any plugin (is it installed?); registered: "
                        f"{', '.join(formats.names()) or 'none'}")
    for part in parts.values():
        for name, entry in part["files"].items():
            file = folder / name
            if not file.is_file():
                raise UserError(f"{file}: missing from the engine directory")
            if file.stat().st_size != entry["bytes"]:
                raise UserError(f"{file}: corrupt (size {file.stat().st_size} bytes, manifest says {entry['bytes']})")
            if verify and sha256(file) != entry["sha256"]:
                raise UserError(f"{file}: corrupt (sha256 differs from the manifest)")
    return manifest


class _File(BaseModel):
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class _Input(BaseModel, extra="allow"):
    name: str
    shape: list[int | str]
    dtype: str


class _Part(BaseModel, extra="allow"):
    name: str
    inputs: list[_Input]
    files: dict[str, _File]
    returns: str = "tensor"
    signature: str | None = None


class _Manifest(BaseModel, extra="allow"):
    format: str
    dtype: str | None = None
    parts: dict[str, _Part]


def check_schema(path: Path, manifest) -> None:
    """The manifest's structure and every file name in it (plain names inside the folder) before anything is read."""
    try:
        parsed = _Manifest.model_validate(manifest)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "manifest"
        raise UserError(f"{path}: not a valid engine manifest: field {field!r}: {err['msg']}") from None
    for part in parsed.parts.values():
        for name in part.files:
            if not name or Path(name).name != name or name in (".", ".."):
                raise UserError(f"{path}: file name {name!r} is not a plain name inside the engine directory")
    if parsed.dtype is not None and parsed.dtype not in ("float32", "float16", "bfloat16", "fp32", "fp16", "bf16"):
        raise UserError(f"{path}: unknown dtype {parsed.dtype!r}")


def check_model(folder: Path, manifest: dict, part: str, signature: str, pipeline: str | None = None) -> None:
    """The engine's part must come from a model with the same weight names/shapes/config as the loaded one."""
    path = Path(folder) / NAME
    if pipeline and manifest.get("pipeline") not in (None, pipeline):
        raise UserError(f"{path}: exported from pipeline {manifest['pipeline']!r}, not {pipeline!r}")
    want = manifest["parts"][part].get("signature")
    if want and want != signature:
        raise UserError(f"{path}: {part} was exported from a different model configuration than the one loaded "
                        f"(signature {want} vs {signature})")
