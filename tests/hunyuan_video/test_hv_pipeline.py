"""The hunyuan-video pipeline: a diffusers-saved folder loads as it is, errors name the file, end-to-end parity."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from vgen_plugins.hunyuan_video.pipeline import PRESETS, HunyuanVideoPipeline
from vgen_plugins.hunyuan_video.text_encoders import PROMPT_TEMPLATE, tiny_tokenizers

import vgen
from vgen.cli import main
from vgen.errors import UserError
from vgen.pipeline import VideoPipeline

PROMPT = "a cat walks on the grass, realistic"


def _diffusers_pipeline():
    """A tiny diffusers HunyuanVideoPipeline with random weights (the same shapes as vgen's "tiny" preset)."""
    from diffusers import (
        AutoencoderKLHunyuanVideo,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoPipeline,
        HunyuanVideoTransformer3DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

    torch.manual_seed(0)
    tok, tok2 = tiny_tokenizers()
    spec = PRESETS["tiny"]
    transformer = HunyuanVideoTransformer3DModel(**spec["transformer"])
    with torch.no_grad():  # diffusers leaves some of these at zero; random everywhere makes the parity meaningful
        for p in transformer.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    vae = AutoencoderKLHunyuanVideo(**spec["vae"], down_block_types=("HunyuanVideoDownBlock3D",) * 4,
                                    up_block_types=("HunyuanVideoUpBlock3D",) * 4)
    llm = LlamaModel(LlamaConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id, **spec["text_encoder"]))
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok2), bos_token_id=tok2.bos_token_id,
                                        eos_token_id=tok2.eos_token_id, pad_token_id=tok2.pad_token_id,
                                        **spec["text_encoder_2"]))
    return HunyuanVideoPipeline(text_encoder=llm, tokenizer=tok, transformer=transformer, vae=vae,
                                scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder_2=clip,
                                tokenizer_2=tok2).to(torch.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    pipe = _diffusers_pipeline()
    folder = tmp_path_factory.mktemp("hv") / "diffusers"
    pipe.save_pretrained(folder, safe_serialization=True, max_shard_size="40KB")
    return pipe, folder


def test_diffusers_folder_loads_and_matches(saved):
    ref, folder = saved
    shards = sorted((folder / "transformer").glob("*.safetensors"))
    assert len(shards) > 2 and (folder / "transformer" / "diffusion_pytorch_model.safetensors.index.json").is_file()
    pipe = vgen.load("hunyuan-video", weights=folder)
    assert isinstance(pipe, VideoPipeline) and pipe.name == "hunyuan-video"
    assert (pipe.latent_channels, pipe.temporal_compression, pipe.spatial_compression, pipe.size_multiple) == \
        (4, 4, 8, 16)
    assert pipe.defaults["steps"] == 50 and pipe.defaults["shift"] == 7.0 and pipe.defaults["fps"] == 24
    assert pipe.defaults["embedded_guidance"] == 6.0 and (pipe.defaults["height"], pipe.defaults["width"]) == \
        (720, 1280) and pipe.defaults["frames"] == 129
    for name in ("transformer", "vae", "text_encoder", "text_encoder_2"):
        mine, theirs = getattr(pipe, name).state_dict(), getattr(ref, name).state_dict()
        assert set(mine) == set(theirs), name
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs), name
    assert set(pipe.weight_files()) >= set(shards)

    # the same conditioning and velocity as diffusers' components
    text = pipe.encode_prompt([PROMPT, "a dog"])
    ref_h, ref_pooled, ref_mask = ref.encode_prompt([PROMPT, "a dog"], device="cpu",
                                                    prompt_template={"template": PROMPT_TEMPLATE})
    torch.testing.assert_close(text["encoder_hidden_states"], ref_h, rtol=0, atol=1e-6)
    torch.testing.assert_close(text["pooled_projections"], ref_pooled, rtol=0, atol=1e-6)
    assert torch.equal(text["encoder_attention_mask"], ref_mask)
    x = torch.randn(2, 4, 2, 4, 6)
    t = torch.tensor([700.0, 300.0])
    v = pipe.denoise(x, t, text, guidance=torch.tensor([6.0, 3.5]))
    with torch.no_grad():
        v_ref = ref.transformer(hidden_states=x, timestep=t, encoder_hidden_states=ref_h,
                                encoder_attention_mask=ref_mask.float(), pooled_projections=ref_pooled,
                                guidance=torch.tensor([6000.0, 3500.0]), return_dict=False)[0]
    assert v.abs().max() > 0.01
    assert (v - v_ref).abs().max() / v_ref.abs().max() < 1e-5

    # bf16 on request, straight from the fp32 files
    half = HunyuanVideoPipeline.load(folder, dtype=torch.bfloat16)
    assert {p.dtype for p in half.transformer.parameters()} == {torch.bfloat16}


def test_end_to_end_frames_match_diffusers(saved):
    from vgen.sample import generate

    ref, folder = saved
    pipe = vgen.load("hunyuan-video", weights=folder)
    latents = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref_frames = ref(prompt=PROMPT, height=32, width=32, num_frames=5, num_inference_steps=2, guidance_scale=6.0,
                         latents=latents.clone(), output_type="np",
                         prompt_template={"template": PROMPT_TEMPLATE}).frames
    out = generate(pipe, [PROMPT], steps=2, shift=7.0, guidance=1.0, embedded_guidance=6.0, frames=5, height=32,
                   width=32, latents=latents, progress=False, vae_tiling="off")
    frames = out.frames.numpy()
    assert frames.shape == ref_frames.shape == (1, 5, 32, 32, 3)
    assert np.abs(frames - ref_frames).max() <= 1e-4
    assert frames.std() > 0.01  # not a constant picture


def test_save_round_trip_and_diffusers_reads_vgen_layout(tmp_path):
    from diffusers import HunyuanVideoPipeline as DiffusersPipeline

    pipe = HunyuanVideoPipeline.from_config("tiny")
    pipe.save(tmp_path / "vgen", max_shard_size="40KB")
    index = json.loads((tmp_path / "vgen" / "model_index.json").read_text())
    assert index["_class_name"] == "HunyuanVideoPipeline" and index["transformer"][1] == \
        "HunyuanVideoTransformer3DModel"
    again = vgen.load("hunyuan-video", weights=tmp_path / "vgen")
    ref = DiffusersPipeline.from_pretrained(tmp_path / "vgen")
    for name in ("transformer", "vae", "text_encoder", "text_encoder_2"):
        sd = getattr(pipe, name).state_dict()
        assert all(torch.equal(sd[k], v) for k, v in getattr(again, name).state_dict().items()), name
        assert all(torch.equal(sd[k], v) for k, v in getattr(ref, name).state_dict().items()), name
    assert again.encode_prompt([PROMPT])["encoder_hidden_states"].equal(
        pipe.encode_prompt([PROMPT])["encoder_hidden_states"])


def _copy(folder, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(folder, dst)
    return dst


def test_missing_shard_names_the_file(saved, tmp_path):
    folder = _copy(saved[1], tmp_path)
    shard = sorted((folder / "transformer").glob("*-00002-of-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(UserError, match=f"missing shard: {shard}"):
        vgen.load("hunyuan-video", weights=folder)


def test_wrong_shape_names_the_file(saved, tmp_path):
    folder = _copy(saved[1], tmp_path)
    shard = sorted((folder / "vae").glob("*.safetensors"))[-1]
    tensors = load_file(shard)
    key = next(iter(tensors))
    tensors[key] = torch.zeros(tensors[key].numel() + 1)
    save_file(tensors, shard)
    with pytest.raises(UserError, match=f"{shard}: tensor '{key}' has shape"):
        vgen.load("hunyuan-video", weights=folder)


@pytest.mark.parametrize("which", ["tokenizer", "tokenizer_2"])
def test_missing_tokenizer_names_the_folder(saved, tmp_path, which):
    folder = _copy(saved[1], tmp_path)
    for f in (folder / which).iterdir():
        f.unlink()
    with pytest.raises(UserError, match=f"missing tokenizer: {folder / which}"):
        vgen.load("hunyuan-video", weights=folder)


def test_cli_reports_bad_folder_in_one_line(saved, tmp_path, capsys):
    folder = _copy(saved[1], tmp_path)
    shutil.rmtree(folder / "tokenizer")
    rc = main(["sample", "--pipeline", "hunyuan-video", "--weights", str(folder), "--out", str(tmp_path / "o"),
               "--frames", "5", "--height", "32", "--width", "32", "--steps", "1", PROMPT])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and str(folder / "tokenizer") in err


def test_cli_samples_from_a_diffusers_folder(saved, tmp_path):
    rc = main(["sample", "--pipeline", "hunyuan-video", "--weights", str(saved[1]), "--out", str(tmp_path / "o"),
               "--frames", "5", "--height", "32", "--width", "32", "--steps", "2", "--dtype", "fp32", PROMPT])
    assert rc == 0
    assert len(list((tmp_path / "o").rglob("*.mp4"))) == 1


def test_13b_recipe_builds_on_meta():
    import inspect

    from diffusers import HunyuanVideoTransformer3DModel as DiffusersDiT

    from vgen.models_settings import build_model

    pipe = build_model("hunyuan-video-13b", device="meta")
    assert sum(p.numel() for p in pipe.transformer.parameters()) == 12_821_012_544
    assert pipe.transformer.proj_out.weight.is_meta and pipe.text_encoder.config.hidden_size == 4096
    # the recipe's DiT config is diffusers' default (the released model)
    defaults = {k: v.default for k, v in inspect.signature(DiffusersDiT.__init__).parameters.items()
                if k != "self"}
    mine = pipe.transformer.config.to_dict()
    assert {k: tuple(v) if isinstance(v, list) else v for k, v in mine.items() if k in defaults} == defaults
    assert vgen.load("hunyuan-video", config="13b", device="meta").vae.config.block_out_channels == \
        (128, 256, 512, 512)
    assert main(["recipes", "show", "hunyuan-video-13b"]) == 0


def test_empty_negative_prompt_gives_finite_frames():
    """CFG with the default empty negative prompt: the tiny template crop leaves no valid text token."""
    import torch
    from vgen_plugins.hunyuan_video.pipeline import HunyuanVideoPipeline

    from vgen.sample import generate

    pipe = HunyuanVideoPipeline.from_config("tiny")
    result = generate(pipe, ["a cat"], steps=2, guidance=3.0, negative="", frames=5, height=32, width=32, seed=0,
                      progress=False)
    assert torch.isfinite(torch.as_tensor(result.frames)).all()
