"""The default model's pipeline: tokenizer over the grammar, save/load, and the recipes' whole flow on tiny weights."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vgen.cli import main


def test_tokenizer_covers_the_grammar():
    from vgen_plugins.shapes.prompts import random_prompts
    from vgen_plugins.shapes_model.pipeline import MAX_TOKENS, make_tokenizer

    tok = make_tokenizer()
    for prompt in random_prompts(200, seed=3, omit_size=0.5, omit_background=0.5):
        ids = tok(prompt)["input_ids"]
        assert tok.unk_token_id not in ids, prompt
        assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id and len(ids) <= MAX_TOKENS
    assert tok("a purple blob")["input_ids"].count(tok.unk_token_id) == 2


def test_save_load_roundtrip_and_denoise(tmp_path):
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    pipe = ShapesPipeline.from_config("tiny")
    torch.nn.init.normal_(pipe.transformer.dit.proj_out.weight, std=0.02)  # a non-zero output to compare
    text = pipe.encode_prompt(["a red circle moving right", "a small blue square bouncing on a gray background"])
    assert text["input_ids"].shape == text["attention_mask"].shape == (2, 32)
    latents = torch.randn(2, pipe.latent_channels, 5, 8, 8)
    with torch.no_grad():
        v = pipe.denoise(latents, torch.tensor([700.0, 200.0]), text)
        assert v.shape == latents.shape and v.abs().sum() > 0
        pipe.save(tmp_path / "m")
        again = ShapesPipeline.load(tmp_path / "m")
        assert torch.equal(again.denoise(latents, torch.tensor([700.0, 200.0]), again.encode_prompt(
            ["a red circle moving right", "a small blue square bouncing on a gray background"])), v)
        frames = again.decode(latents[:1])
    assert frames.shape == (1, 3, 17, 64, 64) and 0 <= frames.min() and frames.max() <= 1


DIT_STAGES = json.dumps([{"name": "c", "steps": 3, "buckets": [[17, 64, 64]], "max_batch": 4}])
DIT_ARGS = ["--recipe", "shapes-default", "--set", f"stages={DIT_STAGES}", "--set", "data_workers=2",
            "--set", "compile=false"]  # compiling costs a minute on a CPU


def train_vae_then_dit(tmp_path, vae_recipe: str, config: dict):
    """Steps 1-2 of the chain on tiny weights: data -> VAE (``vae_recipe`` with ``config``) -> cache -> DiT."""
    data, vae, cache, dit = (tmp_path / n for n in ("data", "vae", "cache", "dit"))
    assert main(["-q", "datasets", "shapes", "--num", "12", "--out", str(data), "--workers", "1",
                 "--caption-form", "mixed"]) == 0
    vae_stages = json.dumps([{"name": "i", "steps": 2, "buckets": [[1, 64, 64]], "max_batch": 4},
                             {"name": "c", "steps": 2, "buckets": [[17, 64, 64]], "max_batch": 2}])
    assert main(["-q", "train", "run", "--recipe", vae_recipe, "--data", str(data), "--out", str(vae),
                 "--set", f"config={json.dumps(config)}", "--set", "holdout=2",
                 "--set", f"stages={vae_stages}", "--set", "data_workers=2"]) == 0
    assert main(["-q", "train", "cache", "--weights", str(vae / "final"), "--data", str(data), "--out", str(cache),
                 *DIT_ARGS]) == 0
    assert main(["-q", "train", "run", "--weights", str(vae / "final"), "--cache", str(cache), "--out", str(dit),
                 *DIT_ARGS]) == 0
    return vae, cache, dit


def test_recipes_train_vae_then_dit_then_sample(tmp_path):
    """The default model's recipes end to end on tiny weights: data -> VAE -> cache -> DiT (patch 2) -> DiT
    repatched to 1 (recipe shapes-default-fine) -> vgen sample."""
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    _, cache, dit = train_vae_then_dit(tmp_path, "shapes-default-vae", {"preset": "tiny",
                                                                       "transformer": {"patch_size": 2}})
    coarse = ShapesPipeline.load(dit / "final-ema")
    assert coarse.transformer.dit.config.patch_size == 2
    start, fine = coarse.repatched(1).save(tmp_path / "fine-start"), tmp_path / "fine"
    fine_args = [a.replace("shapes-default", "shapes-default-fine") for a in DIT_ARGS]
    assert main(["-q", "train", "run", "--weights", str(start), "--cache", str(cache), "--out", str(fine),
                 *fine_args]) == 0  # the coarse step's cache serves: latents do not depend on the patch
    assert ShapesPipeline.load(fine / "final-ema").transformer.dit.config.patch_size == 1
    assert main(["-q", "sample", "a red circle moving right", "--weights", str(fine / "final-ema"), "--steps", "2",
                 "--out", str(tmp_path / "videos")]) == 0
    sidecar = json.loads(next((tmp_path / "videos").glob("*.json")).read_text())
    assert sidecar["pipeline"] == "shapes" and sidecar["frames"] == 17 and sidecar["width"] == 64


def test_vae4_recipe_trains_caches_trains_the_dit_and_samples(tmp_path):
    """The 4x-compression experiment (recipe shapes-vae4): its VAE hands the DiT 16x16 latents that the DiT reads at
    patch 2 (8x8 tokens a frame, as the shipped model), and the result samples 64x64 videos."""
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    tiny = {"preset": "tiny", "vae": {"spatial_compression_ratio": 4}, "transformer": {"patch_size": 2}}
    vae, _, dit = train_vae_then_dit(tmp_path, "shapes-vae4", tiny)
    pipe = ShapesPipeline.load(vae / "final")
    assert (pipe.spatial_compression, pipe.transformer.dit.config.patch_size) == (4, 2)
    assert pipe.size_multiple == 8  # 4x latents at patch 2: 8x8 tokens a 64x64 frame, as the shipped model
    with torch.no_grad():
        latents = pipe.vae.encode(torch.zeros(1, 3, 17, 64, 64)).mean
    assert latents.shape[-3:] == (5, 16, 16)
    assert main(["-q", "sample", "a red circle moving right", "--weights", str(dit / "final-ema"), "--steps", "2",
                 "--out", str(tmp_path / "videos")]) == 0
    sidecar = json.loads(next((tmp_path / "videos").glob("*.json")).read_text())
    assert (sidecar["frames"], sidecar["height"], sidecar["width"]) == (17, 64, 64)


def test_missing_default_weights_is_one_line(tmp_path, monkeypatch, capsys):
    from vgen_plugins.shapes_model import pipeline

    monkeypatch.setattr(pipeline, "WEIGHTS_DIR", tmp_path / "not-shipped")
    assert main(["sample", "a red circle moving right", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "default model" in err


def test_the_default_model_works_out_of_the_box(tmp_path):
    """`vgen sample PROMPT` with nothing else named uses the shipped weights, and what it draws is what was asked
    (scored by the shapes world's own scorer)."""
    from vgen_plugins.shapes_model.pipeline import WEIGHTS_DIR

    if not (WEIGHTS_DIR / "model_index.json").is_file():
        pytest.skip("the default model's weights are not in this build")
    res = subprocess.run([sys.executable, "-m", "vgen", "-q", "sample", "a red circle moving right", "--out",
                          str(tmp_path / "v")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    sidecar = json.loads(next((tmp_path / "v").glob("*.json")).read_text())
    assert sidecar["pipeline"] == "shapes" and (sidecar["frames"], sidecar["height"], sidecar["width"]) == (17, 64, 64)
    assert main(["-q", "eval", "shapes", str(tmp_path / "v"), "--json", str(tmp_path / "s.json")]) == 0
    video = json.loads((tmp_path / "s.json").read_text())["videos"][0]
    assert video["all_correct"], video


@pytest.mark.parametrize("pipeline", ["shapes", "hunyuan-video"])
def test_too_long_prompt_is_truncated_with_a_warning(tmp_path, capsys, pipeline):
    long = " ".join(["a red circle moving right and"] * 60) + " a blue square"
    assert main(["sample", long, "--pipeline", pipeline, "--config", "tiny", "--steps", "1", "--frames", "5",
                 "--height", "32", "--width", "32", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "truncated" in err and "text encoder takes" in err


def test_the_shipped_vae_starts_step_two_with_its_fitted_scale(tmp_path):
    """plugins/shapes_model/weights/vae (step 1's result) loads into a fresh pipeline, weights and scaling factor;
    its latents of shapes-world clips come out near unit variance, as the DiT trains on them."""
    from vgen_plugins.shapes_model.pipeline import WEIGHTS_DIR, ShapesPipeline

    from vgen.io.checkpoint import load_state_dict
    from vgen.train.data import load_pixels, read_clips

    pipe = ShapesPipeline.with_vae(WEIGHTS_DIR / "vae")
    shipped = json.loads((WEIGHTS_DIR / "vae" / "config.json").read_text())["scaling_factor"]
    assert pipe.vae.config.scaling_factor == shipped != 0.476986
    state = load_state_dict(WEIGHTS_DIR / "vae")
    assert all(torch.equal(t, state[k]) for k, t in pipe.vae.state_dict().items())
    assert main(["-q", "datasets", "shapes", "--num", "8", "--out", str(tmp_path / "d"), "--seed", "5"]) == 0
    x = torch.stack([load_pixels(c, (17, 64, 64)) for c in read_clips(tmp_path / "d")])
    with torch.no_grad():
        std = float(pipe.encode_video(x).std())
    assert 0.8 < std < 1.2, std  # 0.33 with HunyuanVideo's factor


def test_grown_model_saves_loads_and_denoises_as_before(tmp_path):
    """`grown` (train_default_model.sh GROW=D,S): a deeper DiT whose new blocks start as the identity, saved and
    loaded like any shapes model, denoises exactly as the model it grew from."""
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    pipe = ShapesPipeline.from_config("tiny", seed=0)
    torch.nn.init.normal_(pipe.transformer.dit.proj_out.weight)  # trained, not the zero init
    torch.manual_seed(0)
    latents, t = torch.randn(2, 4, 5, 8, 8), torch.tensor([700.0, 50.0])
    text = pipe.encode_prompt(["a red circle moving right", "a small blue square bouncing"])
    with torch.no_grad():
        before = pipe.denoise(latents, t, text)
        ShapesPipeline.load(pipe.save(tmp_path / "base"))  # the plain model round-trips too
        grown = ShapesPipeline.load(pipe.grown(dual=1, single=2).save(tmp_path / "grown"))
        assert (grown.transformer.dit.config.num_layers, grown.transformer.dit.config.num_single_layers) == (2, 3)
        torch.testing.assert_close(grown.denoise(latents, t, text), before, rtol=0, atol=0)


def test_heldout_loss_script_scores_caches_the_same_way_each_time(tmp_path):
    """scripts/heldout_loss.py: the same timesteps and noise for every cache, so a cache scores the same twice and a
    model that predicts better scores lower."""
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    assert main(["-q", "datasets", "shapes", "--num", "4", "--out", str(tmp_path / "data"), "--workers", "1"]) == 0
    pipe = ShapesPipeline.from_config("tiny", seed=0)
    torch.nn.init.normal_(pipe.transformer.dit.proj_out.weight, std=0.5)  # predicts noise, badly
    weights = pipe.save(tmp_path / "m")
    assert main(["-q", "train", "cache", "--recipe", "shapes-default-anneal", "--weights", str(weights), "--data",
                 str(tmp_path / "data"), "--out", str(tmp_path / "cache"), "--set", "data_workers=1"]) == 0
    torch.nn.init.zeros_(pipe.transformer.dit.proj_out.weight)  # predicts 0: closer to the velocity's mean
    torch.nn.init.zeros_(pipe.transformer.dit.proj_out.bias)
    zero = pipe.save(tmp_path / "zero")

    def loss(folder):
        script = Path(__file__).parents[2] / "scripts" / "heldout_loss.py"
        out = subprocess.run([sys.executable, str(script), str(folder), str(tmp_path / "cache"),
                              str(tmp_path / "cache"), "--batch", "3"], capture_output=True, text=True, check=True)
        rows = [line.split("|") for line in out.stdout.splitlines() if str(tmp_path / "cache") in line]
        assert len(rows) == 2 and rows[0][2].strip() == "4"
        return [float(r[3]) for r in rows]

    bad = loss(weights)
    assert bad[0] == bad[1] > 0
    assert loss(zero)[0] < bad[0]
