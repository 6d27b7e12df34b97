"""Tencent's original HunyuanVideo transformer checkpoint -> the diffusers ``transformer/`` layout vgen loads.

The original file (``mp_rank_00_model_states.pt``) is a ``torch.save`` dict with the weights under ``"module"``
(``"ema"`` in some releases); safetensors files hold the state dict directly. Renames follow the original module
tree (hyvideo/modules/models.py) onto diffusers' ``HunyuanVideoTransformer3DModel``:

- fused q/k/v projections (``*_attn_qkv``) split into three; a single-stream ``linear1`` splits into
  q, k, v (hidden each) and the MLP input (the rest);
- the final layer's modulation is stored (shift, scale) in the original and (scale, shift) in diffusers;
- the config is read off the tensor shapes; RoPE's per-axis split has no weights, so it defaults to (16, 56, 56)
  for 128-channel heads and must be given (``config={"rope_axes_dim": ...}``) otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from vgen.errors import UserError

# original module path -> diffusers module path, for modules outside the repeated blocks
PLAIN = {
    "img_in.proj": "x_embedder.proj",
    "time_in.mlp.0": "time_text_embed.timestep_embedder.linear_1",
    "time_in.mlp.2": "time_text_embed.timestep_embedder.linear_2",
    "guidance_in.mlp.0": "time_text_embed.guidance_embedder.linear_1",
    "guidance_in.mlp.2": "time_text_embed.guidance_embedder.linear_2",
    "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
    "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
    "txt_in.input_embedder": "context_embedder.proj_in",
    "txt_in.t_embedder.mlp.0": "context_embedder.time_text_embed.timestep_embedder.linear_1",
    "txt_in.t_embedder.mlp.2": "context_embedder.time_text_embed.timestep_embedder.linear_2",
    "txt_in.c_embedder.linear_1": "context_embedder.time_text_embed.text_embedder.linear_1",
    "txt_in.c_embedder.linear_2": "context_embedder.time_text_embed.text_embedder.linear_2",
    "final_layer.linear": "proj_out",
}
FINAL_MODULATION = ("final_layer.adaLN_modulation.1", "norm_out.linear")  # halves swapped

# repeated blocks: original prefix -> (diffusers prefix, {sub-module renames}, {fused qkv -> three targets})
BLOCKS = {
    "txt_in.individual_token_refiner.blocks": (
        "context_embedder.token_refiner.refiner_blocks",
        {"norm1": "norm1", "norm2": "norm2", "self_attn_proj": "attn.to_out.0", "mlp.fc1": "ff.net.0.proj",
         "mlp.fc2": "ff.net.2", "adaLN_modulation.1": "norm_out.linear"},
        {"self_attn_qkv": ("attn.to_q", "attn.to_k", "attn.to_v")},
    ),
    "double_blocks": (
        "transformer_blocks",
        {"img_mod.linear": "norm1.linear", "txt_mod.linear": "norm1_context.linear",
         "img_attn_q_norm": "attn.norm_q", "img_attn_k_norm": "attn.norm_k",
         "txt_attn_q_norm": "attn.norm_added_q", "txt_attn_k_norm": "attn.norm_added_k",
         "img_attn_proj": "attn.to_out.0", "txt_attn_proj": "attn.to_add_out",
         "img_mlp.fc1": "ff.net.0.proj", "img_mlp.fc2": "ff.net.2",
         "txt_mlp.fc1": "ff_context.net.0.proj", "txt_mlp.fc2": "ff_context.net.2"},
        {"img_attn_qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
         "txt_attn_qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")},
    ),
    "single_blocks": (
        "single_transformer_blocks",
        {"linear2": "proj_out", "q_norm": "attn.norm_q", "k_norm": "attn.norm_k", "modulation.linear": "norm.linear"},
        {"linear1": ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")},  # q, k, v: hidden rows each; MLP: rest
    ),
}
_BLOCK_KEY = re.compile(r"(?P<group>" + "|".join(re.escape(g) for g in BLOCKS) + r")\.(?P<i>\d+)\.(?P<sub>.+)")


def original_to_diffusers(state_dict: dict[str, torch.Tensor], hidden_size: int,
                          source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Rename (and split) an original state dict into diffusers' keys; unknown keys are a UserError."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        module, _, param = key.rpartition(".")
        match = _BLOCK_KEY.fullmatch(module)
        if match:
            prefix, renames, fused = BLOCKS[match["group"]]
            target, sub = f"{prefix}.{match['i']}", match["sub"]
            if sub in fused:
                names = fused[sub]
                sizes = [hidden_size] * 3 + ([tensor.shape[0] - 3 * hidden_size] if len(names) == 4 else [])
                if sum(sizes) != tensor.shape[0]:
                    raise UserError(f"{source}: {key!r} has {tensor.shape[0]} rows, expected {sum(sizes)}")
                for name, part in zip(names, torch.split(tensor, sizes, dim=0), strict=True):
                    out[f"{target}.{name}.{param}"] = part
            elif sub in renames:
                out[f"{target}.{renames[sub]}.{param}"] = tensor
            else:
                raise UserError(f"{source}: unknown HunyuanVideo tensor {key!r}")
        elif module == FINAL_MODULATION[0]:
            shift, scale = tensor.chunk(2, dim=0)
            out[f"{FINAL_MODULATION[1]}.{param}"] = torch.cat([scale, shift], dim=0)
        elif module in PLAIN:
            out[f"{PLAIN[module]}.{param}"] = tensor
        else:
            raise UserError(f"{source}: unknown HunyuanVideo tensor {key!r}")
    return out


def infer_config(state_dict: dict[str, torch.Tensor], overrides: dict | None = None,
                 source: str = "checkpoint") -> dict:
    """The diffusers transformer config of an original state dict, read off the tensor shapes."""
    def get(key):
        if key not in state_dict:
            raise UserError(f"{source}: not a HunyuanVideo transformer checkpoint (no {key!r})")
        return state_dict[key]

    def count(group):
        return len({int(m["i"]) for k in state_dict if (m := _BLOCK_KEY.fullmatch(k.rpartition(".")[0]))
                    and m["group"] == group})

    hidden, in_channels, pt, p, _ = get("img_in.proj.weight").shape
    head_dim = get("double_blocks.0.img_attn_q_norm.weight").shape[0]
    patch_volume = pt * p * p
    config = {
        "in_channels": in_channels,
        "out_channels": get("final_layer.linear.weight").shape[0] // patch_volume,
        "num_attention_heads": hidden // head_dim,
        "attention_head_dim": head_dim,
        "num_layers": count("double_blocks"),
        "num_single_layers": count("single_blocks"),
        "num_refiner_layers": count("txt_in.individual_token_refiner.blocks"),
        "mlp_ratio": get("double_blocks.0.img_mlp.fc1.weight").shape[0] / hidden,
        "patch_size": p,
        "patch_size_t": pt,
        "qk_norm": "rms_norm",
        "guidance_embeds": "guidance_in.mlp.0.weight" in state_dict,
        "text_embed_dim": get("txt_in.input_embedder.weight").shape[1],
        "pooled_projection_dim": get("vector_in.in_layer.weight").shape[1],
        "rope_theta": 256.0,
        "rope_axes_dim": [16, 56, 56],
    }
    config.update(overrides or {})
    if sum(config["rope_axes_dim"]) != config["attention_head_dim"]:
        raise UserError(f"{source}: heads have {head_dim} channels; give the RoPE split, e.g. "
                        f"--config '{{\"rope_axes_dim\": [t, h, w]}}' summing to {head_dim}")
    return config


def read_original(path: str | Path, which: str | None = None) -> dict[str, torch.Tensor]:
    """The state dict of an original checkpoint: a .pt/.pth (``torch.load(weights_only=True)``, memory-mapped
    when the file allows) with the weights under ``which`` (default: "module", else "ema"), or a safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise UserError(f"{path}: unreadable safetensors file: {exc}") from None
    data = None
    for mmap in (True, False):  # legacy (non-zip) files cannot be memory-mapped
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
            break
        except Exception as exc:  # pickle, zip and unpickler errors come in many types
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if data is None:
        raise UserError(f"{path}: not a loadable torch checkpoint: {error}")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a dict of tensors, got {type(data).__name__}")
    if which is not None:
        if not isinstance(data.get(which), dict):
            raise UserError(f"{path}: no {which!r} state dict (top-level keys: {', '.join(map(str, list(data)[:5]))})")
        return data[which]
    for key in ("module", "ema", "model", "state_dict"):
        if isinstance(data.get(key), dict):
            return data[key]
    if data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return data
    raise UserError(f"{path}: no state dict under 'module' or 'ema' (keys: {', '.join(map(str, list(data)[:5]))})")


def convert_original(ckpt: str | Path, out: str | Path, which: str | None = None, config: dict | None = None,
                     dtype: torch.dtype | None = None, max_shard_size: int | str = "5GB") -> Path:
    """Convert ``ckpt`` into a diffusers ``transformer/`` folder at ``out`` (config.json + safetensors, atomic).

    The result is checked against the model built on the meta device before anything is written.
    """
    from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel, HunyuanVideoTransformerConfig

    from vgen.io.checkpoint import save_checkpoint

    ckpt = Path(ckpt)
    original = read_original(ckpt, which)
    cfg_dict = infer_config(original, config, source=str(ckpt))
    cfg = HunyuanVideoTransformerConfig.from_dict(cfg_dict)
    state = original_to_diffusers(original, cfg.hidden_size, source=str(ckpt))
    with torch.device("meta"):
        model = HunyuanVideoTransformer3DModel(cfg)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    if missing:
        raise UserError(f"{ckpt}: converted checkpoint lacks {len(missing)} tensors, e.g. {missing[0]!r}")
    for key, tensor in state.items():
        if key not in expected:
            raise UserError(f"{ckpt}: converted tensor {key!r} is not in the model")
        if tuple(tensor.shape) != expected[key]:
            raise UserError(f"{ckpt}: {key!r} has shape {tuple(tensor.shape)}, the config needs {expected[key]}")
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    return save_checkpoint(out, state, config=cfg.to_dict(), max_shard_size=max_shard_size)
