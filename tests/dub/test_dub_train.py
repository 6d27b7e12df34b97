"""The dub model trains through ``vgen train run`` (registered targets audio-ae and audio-dit, vgen.train.targets) on
``vgen datasets shapes --audio`` clips, MP4 or arrays, and what it writes is a model ``vgen dub --weights`` loads."""

import json

import numpy as np
import pytest

from vgen.cli import main

TINY_STAGE = ["--set", 'stages=[{"steps": 2, "max_batch": 2}]', "--set", "log_every=1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for fmt in ("npz", "mp4"):
        assert main(["datasets", "shapes", "--audio", "--num", "3", "--size", "32", "--out", str(root / fmt),
                     "--format", fmt, "--workers", "1"]) == 0
    return root


def test_npz_clips_hold_the_rendered_frames_and_sound(data):
    with np.load(data / "npz" / "clips" / "0000000.npz") as clip:
        assert clip["frames"].shape == (17, 32, 32, 3) and clip["audio"].shape == (34000,)
        assert float(clip["fps"]) == 8.0 and int(clip["sample_rate"]) == 16000


@pytest.mark.parametrize(("fmt", "config", "term"), [("npz", "tiny", "level_mse"), ("mp4", "tiny", "level_mse"),
                                                      ("npz", "tiny-waveform", "stft")])
def test_autoencoder_then_dit_then_dub(data, tmp_path, fmt, config, term, capsys):
    ae, dit = tmp_path / "ae", tmp_path / "dit"
    assert main(["train", "run", "--recipe", "shapes-dub-ae", "--data", str(data / fmt), "--out", str(ae),
                 "--set", f'config="{config}"', *TINY_STAGE]) == 0
    config = json.loads((ae / "final" / "config.json").read_text())
    assert config["latent_std"] > 0 and config["latent_mean"] != 0.0  # measured on the clips
    records = [json.loads(line) for line in (ae / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and all(np.isfinite(r[term]) for r in records)
    assert main(["train", "run", "--recipe", "shapes-dub-dit", "--data", str(data / fmt), "--weights",
                 str(ae / "final"), "--out", str(dit), *TINY_STAGE]) == 0
    from safetensors.torch import load_file

    before, after = load_file(str(ae / "final" / "model.safetensors")), load_file(str(dit / "final" /
                                                                                   "model.safetensors"))
    assert all((before[k] == after[k]).all() for k in before if k.startswith("autoencoder."))  # frozen
    assert any((before[k] != after[k]).any() for k in before if k.startswith("dit."))
    if fmt == "mp4":
        video = next((data / "mp4" / "clips").glob("*.mp4"))
        assert main(["dub", str(video), "--weights", str(dit / "final-ema"), "--out", str(tmp_path / "o"),
                     "--replace"]) == 0
        side = json.loads((tmp_path / "o" / f"{video.stem}.dub.json").read_text())
        assert list(side["weights_sha256"]) == ["model.safetensors"]


def test_targets_need_their_inputs_and_unknown_targets_are_one_line(data, tmp_path, capsys):
    assert main(["train", "run", "--recipe", "shapes-dub-dit", "--data", str(data / "npz"), "--out",
                 str(tmp_path / "x")]) == 2
    assert "audio-dit trains beside a trained autoencoder" in capsys.readouterr().err
    assert main(["train", "run", "--recipe", "shapes-dub-ae", "--out", str(tmp_path / "x"), "--set",
                 'target="audio-nope"']) == 2
    assert "unknown training target 'audio-nope'" in capsys.readouterr().err
