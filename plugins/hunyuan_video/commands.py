"""``vgen convert hunyuan-original``: Tencent's original HunyuanVideo checkpoint -> the diffusers layout vgen loads.
Imported by ``register_commands`` only, so that the plugin scan stays free of typer."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vgen.cli.groups import group


def hunyuan_original(
    ckpt: Path = typer.Argument(..., help="Tencent's transformer checkpoint (.pt with 'module'/'ema', .safetensors)."),
    out: Path = typer.Argument(..., help="Output folder (diffusers transformer/ layout: config.json + safetensors)."),
    weights: str | None = typer.Option(None, help="State dict of a .pt: module | ema (default: module, else ema)."),
    config: str | None = typer.Option(None, help="JSON overrides of the config read off the shapes, e.g. "
                                                 "'{\"rope_axes_dim\": [16, 56, 56]}'."),
    dtype: str | None = typer.Option(None, help="Save as bf16 | fp16 | fp32 (default: as stored)."),
    max_shard_size: str = typer.Option("5GB", help="Shard size of the safetensors files."),
):
    """HunyuanVideo transformer: Tencent's original checkpoint -> diffusers layout (checked before writing)."""
    from vgen_plugins.hunyuan_video.convert import convert_original

    from vgen import console
    from vgen.device import DTYPES
    from vgen.errors import UserError

    overrides = None
    if config:
        try:
            overrides = json.loads(config)
        except json.JSONDecodeError as exc:
            raise UserError(f"--config is not valid JSON: {exc}") from None
        if not isinstance(overrides, dict):
            raise UserError("--config must be a JSON object")
    if dtype is not None and dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}; known: bf16, fp16, fp32")
    if weights not in (None, "module", "ema"):
        raise UserError(f"--weights must be module or ema, got {weights!r}")
    folder = convert_original(ckpt, out, which=weights, config=overrides, dtype=DTYPES.get(dtype),
                              max_shard_size=max_shard_size)
    console.info(f"wrote {folder}")


def register(app: typer.Typer) -> None:
    group(app, "convert").command("hunyuan-original")(hunyuan_original)
