"""LoRA: adapters injected with peft for training, saved in diffusers' LoRA key format, merged for sampling.

The file is a safetensors dict ``transformer.<module>.lora_A.weight`` (r, in) / ``...lora_B.weight`` (out, r), the
layout diffusers' ``load_lora_weights`` / ``load_lora_adapter`` read. alpha/r is folded into ``lora_B`` so the file
needs no alpha: a loader that assumes alpha = r (diffusers without metadata) gets the same update W + B @ A.

Module names in the file are diffusers' for the transformer: a pipeline's trained module that holds its diffusers
transformer inside a larger module (the default model's denoiser: text encoder + DiT) says where with
``lora_prefixes = {"dit.": "transformer.", "text_encoder.": "text_encoder."}`` (module-name prefix -> file key
prefix); without it every module is under ``transformer.``. Files written before that rule (``transformer.dit.*``)
still merge.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vgen.errors import UserError

PREFIX = "transformer."


def add_lora(model: torch.nn.Module, rank: int, alpha: float | None, targets: list[str]) -> int:
    """Freeze ``model`` and inject trainable LoRA adapters into the Linear layers whose names end with a target.
    Returns the number of adapted layers."""
    from peft import LoraConfig, inject_adapter_in_model

    names = [n for n, m in model.named_modules()
             if isinstance(m, torch.nn.Linear) and any(n == t or n.endswith("." + t) for t in targets)]
    if not names:
        raise UserError(f"no Linear layer of {type(model).__name__} matches lora_targets {targets}")
    model.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=names, init_lora_weights=True)
    inject_adapter_in_model(config, model)
    for n, p in model.named_parameters():
        p.requires_grad_("lora_" in n)
    return len(names)


def file_prefixes(model: torch.nn.Module | None) -> dict[str, str]:
    """Module-name prefix inside ``model`` -> key prefix in a LoRA file (the model's ``lora_prefixes``)."""
    return dict(getattr(model, "lora_prefixes", None) or {"": PREFIX})


def file_name(name: str, prefixes: dict[str, str]) -> str:
    """The file's name of module ``name`` of the model (longest matching prefix first)."""
    for inner in sorted(prefixes, key=len, reverse=True):
        if name.startswith(inner):
            return prefixes[inner] + name[len(inner):]
    return PREFIX + name


def module_names(key: str, prefixes: dict[str, str]) -> list[str]:
    """Where a file's module ``key`` may be in the model: through ``prefixes``, then as older files named it
    (``transformer.`` optional)."""
    names = [inner + key[len(outer):] for inner, outer in sorted(prefixes.items(), key=lambda kv: -len(kv[1]))
             if key.startswith(outer)]
    return names + [key[len(PREFIX):] if key.startswith(PREFIX) else key]


def lora_from_state_dict(state_dict: dict[str, torch.Tensor], scaling: float,
                         prefixes: dict[str, str] | None = None) -> dict[str, torch.Tensor]:
    """Diffusers-format LoRA tensors from a (full) state dict of a peft-injected model whose keys start with
    ``transformer.``: ``<name>.lora_A.<adapter>.weight`` -> ``<name>.lora_A.weight``, B scaled by alpha/r; names
    through ``prefixes`` (``file_prefixes(model)``)."""
    prefixes = prefixes or {"": PREFIX}
    out = {}
    for key, tensor in state_dict.items():
        for part in ("lora_A", "lora_B"):
            marker = f".{part}."
            if marker in key and key.endswith(".weight"):
                name = key.split(marker)[0]
                name = file_name(name[len(PREFIX):] if name.startswith(PREFIX) else name, prefixes)
                value = tensor.detach().float().cpu() * (scaling if part == "lora_B" else 1.0)
                out[f"{name}.{part}.weight"] = value.contiguous()
    return out


def save_lora(path: str | Path, state_dict: dict[str, torch.Tensor], metadata: dict | None = None) -> Path:
    from safetensors.torch import save_file

    from vgen.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state_dict, str(tmp), metadata={"format": "pt", **{k: str(v) for k, v in (metadata or {}).items()}})
    return path


def read_lora(path: str | Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """module name -> (A, B) of a diffusers-format LoRA file (``transformer.`` prefix optional)."""
    return {(k[len(PREFIX):] if k.startswith(PREFIX) else k): v for k, v in read_pairs(path).items()}


def read_pairs(path: str | Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """file key (``transformer.<module>``) -> (A, B) of a diffusers-format LoRA file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise UserError(f"LoRA file not found: {path}")
    try:
        sd = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"{path}: unreadable safetensors file: {exc}") from None
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in sd.items():
        for part in ("lora_A", "lora_B"):
            marker = f".{part}."
            if marker in key:
                name = key.split(marker)[0]
                pairs.setdefault(name, {})[part] = tensor
    if not pairs:
        raise UserError(f"{path}: no lora_A/lora_B tensors (not a diffusers-format LoRA file)")
    broken = [n for n, p in pairs.items() if len(p) != 2]
    if broken:
        raise UserError(f"{path}: {broken[0]!r} lacks its lora_A or lora_B tensor")
    return {n: (p["lora_A"], p["lora_B"]) for n, p in pairs.items()}


def apply_lora(target, path: str | Path, scale: float = 1.0) -> int:
    """Merge a LoRA file into a transformer (or a pipeline's ``transformer``): W += scale * B @ A.

    This is what ``vgen sample --lora FILE --lora-scale S`` calls. Returns the number of layers changed; a layer
    the file names that the model lacks, or a shape mismatch, is a UserError.
    """
    model = getattr(target, "transformer", target)
    modules = dict(model.named_modules())
    pairs = read_pairs(path)
    prefixes = file_prefixes(model)
    for key, (a, b) in pairs.items():
        name = next((n for n in module_names(key, prefixes) if n in modules), module_names(key, prefixes)[-1])
        layer = modules.get(name)
        if not isinstance(layer, torch.nn.Linear):
            raise UserError(f"{path}: LoRA layer {name!r} is not a Linear layer of {type(model).__name__}")
        if b.shape[0] != layer.out_features or a.shape[1] != layer.in_features:
            raise UserError(f"{path}: LoRA {name!r} is {a.shape[1]}->{b.shape[0]}, the layer is "
                            f"{layer.in_features}->{layer.out_features}")
        with torch.no_grad():
            delta = (b.float() @ a.float()) * scale
            layer.weight.add_(delta.to(layer.weight.device, layer.weight.dtype))
    return len(pairs)
