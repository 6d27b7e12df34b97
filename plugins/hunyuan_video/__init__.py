"""HunyuanVideo (arXiv 2412.03603): LLM + CLIP text encoders, causal 3D VAE, 13B dual/single-stream DiT.

``vgen.load("hunyuan-video", weights=DIR)`` reads a diffusers-layout folder; ``config="tiny"`` builds random tiny
weights. Heavy modules are imported inside the factories so that ``vgen`` starts fast.
"""

from vgen.hookspecs import hookimpl


def _pipeline(**kwargs):
    from vgen_plugins.hunyuan_video.pipeline import build

    return build(**kwargs)


def _llm_encoder(model_dir, tokenizer_dir, device="cpu", dtype=None, **kwargs):
    from vgen_plugins.hunyuan_video.text_encoders import LlamaPromptEncoder

    return LlamaPromptEncoder.from_folders(model_dir, tokenizer_dir, device=device, dtype=dtype, **kwargs)


def _clip_encoder(model_dir, tokenizer_dir, device="cpu", dtype=None, **kwargs):
    from vgen_plugins.hunyuan_video.text_encoders import CLIPPooledEncoder

    return CLIPPooledEncoder.from_folders(model_dir, tokenizer_dir, device=device, dtype=dtype, **kwargs)


def _vae(config=None, weights=None, device="cpu", dtype=None):
    from vgen_plugins.hunyuan_video.vae import AutoencoderKLHunyuanVideo

    if weights is not None:
        return AutoencoderKLHunyuanVideo.from_pretrained(weights, dtype=dtype, device=device)
    return AutoencoderKLHunyuanVideo(config).to(device=device, dtype=dtype)


def _dit(config=None, weights=None, device="cpu", dtype=None):
    from vgen_plugins.hunyuan_video.pipeline import _dit_classes, _load_module, _make_config

    model_cls, config_cls = _dit_classes()
    if weights is not None:
        from pathlib import Path

        return _load_module(model_cls, config_cls, Path(weights), device, dtype)
    with __import__("torch").device(device):
        return model_cls(_make_config(config_cls, config or {})).to(dtype=dtype)


@hookimpl
def register_text_encoders(register):
    register("hunyuan-llm", _llm_encoder,
             description="HunyuanVideo prompt encoder: Llama hidden states (layer -3), video template, 256 tokens")
    register("clip-pooled", _clip_encoder, description="CLIP text model pooled output (77 tokens)")


@hookimpl
def register_vaes(register):
    register("hunyuan-video", _vae, description="HunyuanVideo causal 3D VAE: 4x temporal, 8x spatial, 16 channels")


@hookimpl
def register_dits(register):
    register("hunyuan-video", _dit,
             description="HunyuanVideo DiT: token refiner, 20 dual + 40 single-stream blocks, 3D RoPE (13B)")


@hookimpl
def register_pipelines(register):
    register("hunyuan-video", _pipeline,
             description="HunyuanVideo text-to-video (diffusers folder via weights=DIR; config='tiny' for tests)")


@hookimpl
def register_commands(app):
    from vgen_plugins.hunyuan_video.commands import register

    register(app)
