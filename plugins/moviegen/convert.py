"""``vgen convert inflate-tae IMAGE_VAE_DIR OUT_DIR``: MovieGen's TAE initialised from an image autoencoder.

IMAGE_VAE_DIR is a diffusers ``AutoencoderKL`` folder (config.json + safetensors, any config). The TAE takes its
config (widths, latent channels, scaling and shift factors) and every 2D weight under the same name; the temporal
layers start as the identity (tae.py), so a still video encodes and decodes as the image model does frame by frame.
OUT_DIR becomes a moviegen pipeline folder holding only the ``vae`` component (model_index.json + vae/), which
``vgen.load("moviegen", weights=OUT_DIR).vae`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vgen.errors import UserError

# the attention keys of diffusers' older VAE files (diffusers renames them on load too)
_OLD_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def _image_key(key: str) -> str:
    parts = key.split(".")
    if len(parts) > 2 and parts[-2] in _OLD_ATTENTION:
        parts[-2:-1] = _OLD_ATTENTION[parts[-2]].split(".")
    return ".".join(parts)


def inflate_state(tae: torch.nn.Module, image_state: dict[str, torch.Tensor]) -> None:
    """Load an image VAE's tensors into ``tae`` and set every temporal layer to the identity (in place)."""
    from vgen_plugins.moviegen.tae import Attention, TemporalConv, temporal_identity

    params = tae.state_dict()
    taken = set()
    for key, tensor in image_state.items():
        name = _image_key(key)
        if name not in params:
            raise UserError(f"image VAE tensor {key!r} has no place in the TAE (is this a diffusers AutoencoderKL?)")
        target = params[name]
        if tensor.dim() == target.dim() - 1:  # a 1x1 Conv2d (quant convs) -> its Conv3d
            tensor = tensor.unsqueeze(2)
        if tuple(tensor.shape) != tuple(target.shape):
            raise UserError(f"image VAE tensor {key!r} has shape {tuple(tensor.shape)}, the TAE needs "
                            f"{tuple(target.shape)}")
        target.copy_(tensor.to(target.dtype))
        taken.add(name)
    with torch.no_grad():
        for module in tae.modules():
            if isinstance(module, TemporalConv):
                temporal_identity(module)
            elif isinstance(module, Attention) and module.temporal:  # starts as the residual alone
                torch.nn.init.zeros_(module.to_out[0].weight)
                torch.nn.init.zeros_(module.to_out[0].bias)
    spatial = [n for n in params if ".temporal." not in n and "attentions_temporal" not in n]
    missing = [n for n in spatial if n not in taken]
    if missing:
        raise UserError(f"the image VAE lacks {len(missing)} tensors the TAE needs, e.g. {missing[0]!r}")


def inflate(image_vae_dir: str | Path, out_dir: str | Path, dtype: torch.dtype | None = None) -> Path:
    """Write OUT_DIR (model_index.json + vae/) with the TAE inflated from the AutoencoderKL in IMAGE_VAE_DIR."""
    from vgen_plugins.moviegen.pipeline import save_components
    from vgen_plugins.moviegen.tae import MovieGenTAE, TAEConfig

    from vgen.io.checkpoint import load_state_dict, read_config

    folder = Path(image_vae_dir).expanduser()
    if (folder / "vae" / "config.json").is_file() and not (folder / "config.json").is_file():
        folder = folder / "vae"  # a whole diffusers pipeline folder: its vae/
    config = read_config(folder)
    name = config.get("_class_name")
    if name not in (None, "AutoencoderKL"):
        raise UserError(f"{folder}: an image AutoencoderKL is needed, this is a {name}")
    tae = MovieGenTAE(TAEConfig.from_dict(config))
    state = load_state_dict(folder)
    with torch.no_grad():
        inflate_state(tae, state)
    if dtype is not None:
        tae.to(dtype)
    return save_components(out_dir, {"vae": tae.eval()})


def register(app) -> None:
    import typer

    from vgen.cli.groups import group

    def inflate_tae(
        image_vae: Path = typer.Argument(..., help="A diffusers AutoencoderKL folder (config.json + safetensors)."),
        out: Path = typer.Argument(..., help="Output moviegen pipeline folder (model_index.json + vae/)."),
        dtype: str | None = typer.Option(None, help="Save as bf16 | fp16 | fp32 (default: as stored)."),
    ):
        """MovieGen TAE from an image VAE: temporal layers start as identity (a still video codes as the image)."""
        from vgen import console
        from vgen.device import DTYPES

        if dtype is not None and dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; known: bf16, fp16, fp32")
        folder = inflate(image_vae, out, DTYPES.get(dtype) if dtype else None)
        console.info(f"wrote {folder}: {json.loads((folder / 'model_index.json').read_text())['vae'][1]} in vae/")

    group(app, "convert").command("inflate-tae")(inflate_tae)
