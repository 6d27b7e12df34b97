"""Sound for video (``vgen dub``): MovieGen Audio as a first-party plugin.

``autoencoder`` (DAC-VAE-like waveform <-> 25 Hz Gaussian latents), ``spectral`` (STFT levels <-> 25 Hz latents by
principal components, Griffin-Lim back to sound: the shapes model's), ``dit`` (flow-matching audio DiT: video features
added per latent frame, prompt by cross-attention, context spans for infilling and continuation), ``sampling``
(midpoint solver + CFG), ``features`` (per-frame video features: pooled pixels, CLIP), ``model`` (the three as one
``vgen.contract.AudioModel``, windowed long generation, model folders), ``training`` (the "audio-ae" and "audio-dit"
training targets of ``vgen train``), ``data`` (clips + sound from a manifest).

Registered: audio model ``shapes-dub`` (the shapes world's sound; its weights load from ``weights/shapes-dub`` once
they ship, see docs/dub.md, else ``--weights`` / ``--config``) and ``moviegen-audio`` (48 kHz, 25 Hz latents, CLIP
features; bring your weights); video features ``pixels`` and ``clip``.
"""

from vgen.hookspecs import hookimpl


def _shapes_dub(weights=None, config=None, device="cpu", **options):
    from vgen_plugins.audio.model import SHIPPED, DubModel

    if weights is None and config is None:
        if not (SHIPPED / "model.safetensors").is_file():
            from vgen.errors import UserError

            raise UserError("shapes-dub has no shipped weights in this install: pass --weights or --config")
        weights = SHIPPED
    return DubModel.build(weights=weights, config=config or "shapes", device=device, **options)


def _moviegen_audio(weights=None, config=None, device="cpu", **options):
    from vgen_plugins.audio.model import DubModel

    return DubModel.build(weights=weights, config=config or "moviegen-48k", device=device, **options)


@hookimpl
def register_audio_models(register):
    register("shapes-dub", _shapes_dub, default=True,
             description="sound of shapes-world videos: hums by colour, clicks at bottom contacts (16 kHz; weights: docs/dub.md)")
    register("moviegen-audio", _moviegen_audio,
             description="MovieGen Audio layout: 48 kHz, 25 Hz latents, CLIP frame features (--weights needed)")


def _pixels(device="cpu", **options):
    from vgen_plugins.audio.features import PooledPixels

    return PooledPixels(device=device, **options)


def _clip(device="cpu", **options):
    from vgen_plugins.audio.features import ClipFeatures

    return ClipFeatures(device=device, **options)


@hookimpl
def register_video_features(register):
    register("pixels", _pixels, description="each frame average-pooled to size x size RGB (no weights)")
    register("clip", _clip, description="CLIP image embeddings per frame from a local transformers folder (path=)")


def _target(name):
    def factory(settings, device):
        from vgen_plugins.audio.training import TARGETS

        return TARGETS[name](settings, device)

    return factory


@hookimpl
def register_training_targets(register):
    register("audio-ae", _target("audio-ae"),
             description="the dub model's audio autoencoder: spectral (PCA fit + level MSE) or waveform (STFT + L1 + KL)")
    register("audio-dit", _target("audio-dit"),
             description="the dub model's audio DiT: flow matching, masked infilling, video features + prompt")
