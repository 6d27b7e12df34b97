"""Checkpoint folders in the diffusers layout: ``config.json`` + safetensors, sharded with an index when large.

``save_checkpoint`` writes the whole folder under a temporary name and renames it over the old one, so an
interrupted save leaves the previous checkpoint intact. ``iter_state_dict`` streams tensors shard by shard, so that
peak host memory stays near one shard (plus the model being filled).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch

from vgen.errors import UserError
from vgen.io.atomic import atomic_dir

WEIGHTS_NAMES = ("diffusion_pytorch_model.safetensors", "model.safetensors")


def _parse_size(size: int | str) -> int:
    if isinstance(size, int):
        return size
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    s = str(size).strip().upper()
    try:
        for unit, mult in sorted(units.items(), key=lambda kv: -len(kv[0])):
            if s.endswith(unit):
                value = float(s[: -len(unit)]) * mult
                break
        else:
            value = float(s)
        if not 1 <= value < 2**63:  # NaN fails too
            raise ValueError
    except ValueError:
        raise UserError(f"shard size {size!r}: use a positive size such as 5GB, 500MB or 2GiB") from None
    return int(value)


def write_weights(folder: Path, state_dict: dict[str, torch.Tensor], max_shard_size: int | str = "5GB",
                  weights_name: str = WEIGHTS_NAMES[0]) -> list[Path]:
    """Write ``state_dict`` into ``folder`` (not atomic by itself), sharded over ``max_shard_size``."""
    from safetensors.torch import save_file

    limit = _parse_size(max_shard_size)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state_dict.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > limit:
            shards.append({})
            size = 0
        shards[-1][key] = tensor.detach().contiguous().cpu()
        size += nbytes
    folder.mkdir(parents=True, exist_ok=True)
    if len(shards) == 1:
        path = folder / weights_name
        save_file(shards[0], str(path), metadata={"format": "pt"})
        return [path]
    stem, ext = weights_name.rsplit(".", 1)
    weight_map, paths = {}, []
    total = sum(t.numel() * t.element_size() for t in state_dict.values())
    for i, shard in enumerate(shards, 1):
        name = f"{stem}-{i:05d}-of-{len(shards):05d}.{ext}"
        save_file(shard, str(folder / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in shard})
        paths.append(folder / name)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / f"{weights_name}.index.json").write_text(json.dumps(index, indent=2))
    return paths


def save_checkpoint(folder: str | Path, state_dict: dict[str, torch.Tensor], config: dict | None = None,
                    max_shard_size: int | str = "5GB", weights_name: str = WEIGHTS_NAMES[0],
                    extra_files: dict[str, str] | None = None, replace: bool = False) -> Path:
    """Write ``config.json`` + weights (+ ``extra_files`` name -> text) atomically as a folder; an existing folder
    is replaced only with ``replace`` or when vgen wrote it (vgen.io.atomic.atomic_dir)."""
    folder = Path(folder)
    with atomic_dir(folder, replace=replace) as tmp:
        if config is not None:
            (tmp / "config.json").write_text(json.dumps(config, indent=2, default=str))
        write_weights(tmp, state_dict, max_shard_size, weights_name)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
    return folder


def read_config(folder: str | Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise UserError(f"missing config: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: invalid JSON: {exc}") from None


def weight_files(folder: str | Path) -> list[Path]:
    """The safetensors files of a checkpoint folder, in index order; a UserError naming any missing file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"checkpoint folder not found: {folder}")
    for name in WEIGHTS_NAMES:
        index = folder / f"{name}.index.json"
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (json.JSONDecodeError, KeyError) as exc:
                raise UserError(f"{index}: invalid index: {exc}") from None
            files = [folder / f for f in dict.fromkeys(weight_map.values())]
            for f in files:
                if not f.is_file():
                    raise UserError(f"missing shard: {f} (listed in {index.name})")
            return files
        if (folder / name).is_file():
            return [folder / name]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise UserError(f"no safetensors weights in {folder}")
    return files


def iter_state_dict(folder: str | Path, device: str | torch.device = "cpu",
                    dtype: torch.dtype | None = None) -> Iterator[tuple[str, torch.Tensor, Path]]:
    """Yield (key, tensor, file) one tensor at a time, one shard open at a time."""
    from safetensors import SafetensorError, safe_open

    for file in weight_files(folder):
        try:
            with safe_open(str(file), framework="pt", device=str(device)) as f:
                for key in f.keys():
                    tensor = f.get_tensor(key)
                    if dtype is not None and tensor.is_floating_point():
                        tensor = tensor.to(dtype)
                    yield key, tensor, file
        except (SafetensorError, OSError) as exc:
            raise UserError(f"{file}: unreadable safetensors file: {exc}") from None


def load_state_dict(folder: str | Path, device="cpu", dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    return {k: t for k, t, _ in iter_state_dict(folder, device, dtype)}


def load_into(module: torch.nn.Module, folder: str | Path, dtype: torch.dtype | None = None,
              key_map=None, strict: bool = True, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Stream a checkpoint into ``module`` tensor by tensor (works for modules built on the meta device).

    ``key_map(key) -> key | None`` renames checkpoint keys (None drops one). A tensor whose shape does not fit the
    module, an unknown key or a missing key (``strict``) is a UserError naming the file. ``device`` is where the
    tensors are read to (straight onto the GPU skips a host copy).
    """
    params = dict(module.named_parameters())
    params.update(dict(module.named_buffers()))
    seen = set()
    for key, tensor, file in iter_state_dict(folder, device=device, dtype=dtype):
        name = key_map(key) if key_map else key
        if name is None:
            continue
        if name not in params:
            if strict:
                raise UserError(f"{file}: unexpected tensor {key!r} for {type(module).__name__}")
            continue
        target = params[name]
        if tuple(target.shape) != tuple(tensor.shape):
            raise UserError(f"{file}: tensor {key!r} has shape {tuple(tensor.shape)}, the config needs "
                            f"{tuple(target.shape)}")
        _assign(module, name, tensor)  # the checkpoint's dtype, or ``dtype`` (cast in iter_state_dict)
        seen.add(name)
    missing = [n for n in params if n not in seen and not _is_nonpersistent(module, n)]
    if strict and missing:
        raise UserError(f"{folder}: checkpoint lacks {len(missing)} tensors, e.g. {missing[0]!r}")
    return module


def _assign(module: torch.nn.Module, name: str, tensor: torch.Tensor) -> None:
    owner_name, _, attr = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    old = getattr(owner, attr)
    if isinstance(old, torch.nn.Parameter):
        setattr(owner, attr, torch.nn.Parameter(tensor, requires_grad=old.requires_grad))
    else:
        owner._buffers[attr] = tensor


def _is_nonpersistent(module: torch.nn.Module, name: str) -> bool:
    owner_name, _, attr = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    return attr in getattr(owner, "_non_persistent_buffers_set", set())
