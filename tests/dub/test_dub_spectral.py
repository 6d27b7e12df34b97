"""The shapes dub model's spectral autoencoder (plugins/audio/spectral.py): Griffin-Lim brings the tones and clicks of
the shapes world back from magnitudes, the PCA fit keeps them through 16 latent channels, and the sound it decodes
starts and ends in silence (a sound cut mid-cycle is a click)."""

import numpy as np
import pytest
import torch
from vgen_plugins.audio.model import SHIPPED, DubModel
from vgen_plugins.audio.spectral import FLOOR, griffin_lim, magnitudes
from vgen_plugins.shapes.dub_eval import score_dub
from vgen_plugins.shapes.world import render, render_audio, sample_scene

from vgen.errors import UserError

FPS, RATE, HOP = 8.0, 16000, 640


def _clips(seed: int, n: int, bouncing: bool | None = None):
    out, i = [], 0
    while len(out) < n:
        scene = sample_scene((seed, i))
        i += 1
        if bouncing is None or any(o.motion == "bouncing" for o in scene.objects) == bouncing:
            audio = render_audio(scene, seed=i)
            out.append((render(scene), audio[: len(audio) // HOP * HOP]))
    return out


def _passes(frames, wave) -> bool:
    r = score_dub(frames, wave, RATE, FPS)
    return r["pitch"] and r["sync"] is not False and r["silent"] is not False


@pytest.fixture(scope="module")
def fitted():
    model = DubModel.build(config="shapes")
    levels = [model.autoencoder.levels(torch.from_numpy(a)[None, None])[0].T for _, a in _clips(3, 48)]
    kept = model.autoencoder.fit(torch.cat(levels))
    return model, kept


def _faded(wave: torch.Tensor) -> np.ndarray:
    ramp = torch.linspace(0, 1, 48)  # the model's 3 ms fade (DubModel.decode)
    wave = wave.clone()
    wave[:48] *= ramp
    wave[-48:] *= ramp.flip(0)
    return wave.numpy()


def test_griffin_lim_brings_tones_and_clicks_back_from_magnitudes():
    for frames, audio in _clips(5, 3, bouncing=True):
        mag = magnitudes(torch.from_numpy(audio)[None, None], 2048, 160)
        assert _passes(frames, _faded(griffin_lim(mag, 2048, 160, len(audio))[0]))
        assert not _passes(frames, _faded(griffin_lim(mag * 0, 2048, 160, len(audio))[0]))  # silence fails


def test_pca_latents_keep_tones_and_clicks(fitted):
    model, kept = fitted
    assert kept > 0.9
    passed = []
    for frames, audio in _clips(9, 6, bouncing=True) + _clips(9, 4, bouncing=False):
        wave = model.decode(model.encode(torch.from_numpy(audio)[None, None]))[0, 0].numpy()
        passed.append(_passes(frames, wave))
    assert sum(passed) >= 9, passed
    frames, audio = _clips(9, 1, bouncing=True)[0]
    other = _clips(11, 1, bouncing=False)[0][1]  # the round trip of another clip's sound fails this one
    assert not _passes(frames, model.decode(model.encode(torch.from_numpy(other)[None, None]))[0, 0].numpy())


def test_fit_is_deterministic_and_whitened(fitted):
    model, _ = fitted
    again = DubModel.build(config="shapes")
    levels = torch.cat([again.autoencoder.levels(torch.from_numpy(a)[None, None])[0].T for _, a in _clips(3, 48)])
    again.autoencoder.fit(levels)
    assert torch.equal(again.autoencoder.encoder.weight, model.autoencoder.encoder.weight)
    z = again.autoencoder.encoder(levels)
    assert torch.allclose(z.std(0), torch.ones(16), atol=0.05) and z.mean(0).abs().max() < 1e-3


def test_decoded_sound_fades_in_and_out_and_levels_floor(fitted):
    model, _ = fitted
    _, audio = _clips(4, 1)[0]
    wave = model.decode(model.encode(torch.from_numpy(audio)[None, None]), len(audio) - 100)[0, 0]
    assert wave.shape[-1] == len(audio) - 100 and wave[0] == 0 and wave[-1] == 0
    assert wave[2000:4000].abs().max() > 0.05  # a hum in between
    silent = model.autoencoder.levels(torch.zeros(1, 1, 3 * HOP))
    assert silent.shape == (1, 1025, 3) and silent.abs().max() < np.log1p(1e-6 / FLOOR)


def test_bad_autoencoder_config_is_one_line(tmp_path):
    config = DubModel.build(config="tiny").config
    with pytest.raises(UserError, match="not a dub model config"):
        DubModel({**config, "autoencoder": {**config["autoencoder"], "kind": "mel"}})


def test_edge_frames_keep_a_click_at_the_first_frame():
    """Shipped model's autoencoder: clips with a bottom contact in frame 0 (scenes found by search, seed 21). Decoded
    without edge frames, scene 231's click at t = 0 is lost (Griffin-Lim smears it at the edge); with the default
    2 edge frames every one keeps its clicks."""
    model = DubModel.load(SHIPPED)
    kept = {0: [], 2: []}
    for i in (16, 53, 63, 231, 247, 280):
        scene = sample_scene((21, i))
        frames, audio = render(scene), render_audio(scene, seed=i + 1)
        audio = torch.from_numpy(audio[: len(audio) // HOP * HOP])[None, None]
        for edge, passed in kept.items():
            model.config["edge_frames"] = edge
            with torch.no_grad():
                passed.append(_passes(frames, model.decode(model.encode(audio))[0, 0].numpy()))
    assert all(kept[2]) and kept[0][3] is False, kept


@pytest.mark.parametrize("lookahead", [0.0, 0.08])
def test_windows_continue_from_overlap_context_and_redo_the_lookahead(monkeypatch, lookahead):
    """Long sound is made in full windows: each one between the first and the last is given exactly `overlap` frames
    of context, the last one ends at the end; every latent frame is generated once, except the last `lookahead`
    frames of each window but the last, which the next window makes again."""
    import vgen_plugins.audio.model as dub_model

    model = DubModel.build(config="tiny")
    model.config.update({"window_seconds": 1.0, "overlap_seconds": 0.24, "lookahead_seconds": lookahead})
    calls = []
    real = dub_model.midpoint_sample

    def spy(dit, noise, context, mask, *args, **kwargs):
        calls.append((noise.shape[1], int(mask.sum())))
        return real(dit, noise, context, mask, *args, **kwargs)

    monkeypatch.setattr(dub_model, "midpoint_sample", spy)
    wave = model.generate(np.zeros((26, 16, 16, 3), np.uint8), 8.0, 26 / 8, seed=0)
    window, overlap, redo = 25, 6, round(lookahead * model.latent_rate)
    n = int(np.ceil(26 / 8 * model.latent_rate))
    assert wave.shape == (1, round(26 / 8 * model.sample_rate))
    assert len(calls) >= 3 and calls[0] == (window, 0), calls
    assert all(c == (window, overlap) for c in calls[1:-1]) and calls[-1][0] == window and calls[-1][1] >= overlap
    assert sum(length - context for length, context in calls) == n + redo * (len(calls) - 1), (calls, n)
