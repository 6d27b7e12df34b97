"""LoRA trained by vgen on the tiny HunyuanVideo transformer: diffusers' load_lora_weights reads the file and gives
the same output as vgen's apply_lora, at scale 1 and 0.5."""

import pytest
import torch
from conftest import hv_settings

from vgen.errors import UserError
from vgen.nn.lora import apply_lora, read_lora
from vgen.train import trainer
from vgen.train.data import LatentCache


def _inputs(hv_cache):
    cache = LatentCache(hv_cache)
    entry = next(e for e in cache.entries if e["bucket"] == [9, 32, 32])
    gen = torch.Generator().manual_seed(1)
    return torch.randn(1, 4, 3, 4, 4, generator=gen), torch.tensor([700.0]), cache.text(entry)


def test_lora_loads_in_diffusers_with_the_same_output(hv_cache, tmp_path):
    from diffusers import HunyuanVideoPipeline, HunyuanVideoTransformer3DModel

    stage = {"steps": 15, "buckets": [[1, 32, 32], [9, 32, 32]], "tokens_per_batch": 48}
    s = hv_settings(cache=hv_cache, out=tmp_path / "lora-run", stages=[stage], lora_rank=4, lora_alpha=8.0,
                    lr=1e-2)
    result = trainer.run(s)
    lora_file = tmp_path / "lora-run" / "lora.safetensors"
    assert result["lora"] == str(lora_file)
    pairs = read_lora(lora_file)
    assert "transformer_blocks.0.attn.to_q" in pairs and "single_transformer_blocks.1.attn.to_v" in pairs
    assert any(b.abs().sum() > 0 for _, b in pairs.values())  # lora_B starts at zero: it trained

    latents, timestep, text = _inputs(hv_cache)
    base = trainer.build_pipeline(s, "cpu")  # the frozen base: same seed, same weights
    base.save(tmp_path / "base")
    ref = HunyuanVideoTransformer3DModel.from_pretrained(tmp_path / "base" / "transformer")
    dpipe = HunyuanVideoPipeline(transformer=ref, vae=None, text_encoder=None, tokenizer=None, text_encoder_2=None,
                                 tokenizer_2=None, scheduler=None)
    dpipe.load_lora_weights(str(lora_file), adapter_name="vgen")

    def diffusers_out(scale):
        dpipe.set_adapters(["vgen"], [scale])
        with torch.no_grad():
            return ref(hidden_states=latents, timestep=timestep, encoder_hidden_states=text["encoder_hidden_states"],
                       encoder_attention_mask=text["encoder_attention_mask"],
                       pooled_projections=text["pooled_projections"],
                       guidance=torch.tensor([6000.0]), return_dict=False)[0]

    with torch.no_grad():
        before = base.denoise(latents, timestep, text)
    for scale in (1.0, 0.5):
        pipe = trainer.build_pipeline(s, "cpu")
        assert apply_lora(pipe, lora_file, scale=scale) == len(pairs)
        with torch.no_grad():
            ours = pipe.denoise(latents, timestep, text)
        theirs = diffusers_out(scale)
        assert (ours - before).abs().max() > 1e-4  # the LoRA changes the output
        torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=1e-4)

    # vgen sample --lora FILE --lora-scale S: scale 0 is the base model, scale 1 differs; the sidecar records it
    import json

    from vgen.cli import main
    from vgen.io.video import read_video

    def sample(out, *extra):
        assert main(["-q", "sample", "a red circle", "--pipeline", "hunyuan-video", "--weights",
                     str(tmp_path / "base"), "--steps", "2", "--frames", "5", "--height", "32", "--width", "32",
                     "--out", str(out), *extra]) == 0
        return read_video(next(out.glob("*.mp4"))).frames, json.loads(next(out.glob("*.json")).read_text())

    plain, _ = sample(tmp_path / "plain")
    zero, _ = sample(tmp_path / "zero", "--lora", str(lora_file), "--lora-scale", "0")
    full, sidecar = sample(tmp_path / "full", "--lora", str(lora_file))
    assert (zero == plain).all() and not (full == plain).all()
    assert sidecar["lora"] == str(lora_file) and sidecar["lora_scale"] == 1.0 and len(sidecar["lora_sha256"]) == 64


def test_apply_lora_rejects_a_file_for_another_model(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"transformer.nope.lora_A.weight": torch.zeros(2, 8), "transformer.nope.lora_B.weight": torch.zeros(8, 2)},
              str(path))
    with pytest.raises(UserError, match="not a Linear layer"):
        apply_lora(torch.nn.Sequential(torch.nn.Linear(8, 8)), path)
    with pytest.raises(UserError, match="not found"):
        apply_lora(torch.nn.Linear(8, 8), tmp_path / "missing.safetensors")
