"""The instruction editor (pipeline shapes-edit, editor shapes-instruct) on tiny weights: zero-initialised it is the
text-to-video model; its training data is a latent cache `vgen train` reads as is; `vgen edit VIDEO "INSTRUCTION"`
uses it by default; unknown instructions warn in one line listing the forms."""

import json

import numpy as np
import torch

from vgen.cli import main
from vgen.contract import EditRequest


def _tiny():
    from vgen_plugins.shapes_edit.pipeline import build

    torch.manual_seed(0)
    return build(config="tiny")


def test_zero_initialised_editor_is_the_text_to_video_model():
    from vgen_plugins.shapes_edit.editor import InstructEditor
    from vgen_plugins.shapes_model.pipeline import build as build_base

    from vgen.flow.loop import generate

    torch.manual_seed(0)
    base = build_base(config="tiny")
    torch.nn.init.normal_(base.transformer.dit.proj_out.weight, std=0.02)  # a DiT that outputs something
    pipe = _tiny()
    pipe.transformer.load_state_dict(base.transformer.state_dict(), strict=False)
    assert not pipe.source_in.weight.any()
    source = torch.randn(1, 4, 5, 8, 8)
    instruction = "make the red circle blue"
    edited, info = InstructEditor().edit(pipe, source, EditRequest(instruction=instruction, steps=3, strength=1.0,
                                                                     guidance=1.0),
                                         torch.Generator().manual_seed(7))
    noise = torch.randn(source.shape, generator=torch.Generator().manual_seed(7))
    plain = generate(base, [instruction], steps=3, guidance=1.0, latents=noise, decode=False, progress=False)
    assert info["model_calls"] == 3 and torch.allclose(edited, plain.latents, atol=1e-5)
    assert not torch.allclose(edited, noise)
    with torch.no_grad():  # and the source does reach the DiT once source_in is not zero
        torch.nn.init.normal_(pipe.source_in.weight)
        again, _ = InstructEditor().edit(pipe, source, EditRequest(instruction=instruction, steps=3, strength=1.0,
                                                                     guidance=1.0),
                                         torch.Generator().manual_seed(7))
    assert not torch.allclose(again, plain.latents, atol=1e-3)


def test_save_and_load_keep_the_source_input(tmp_path):
    from vgen_plugins.shapes_edit.pipeline import build

    pipe = _tiny()
    torch.nn.init.normal_(pipe.source_in.weight)
    torch.nn.init.normal_(pipe.transformer.dit.proj_out.weight, std=0.02)
    pipe.save(tmp_path / "m")
    back = build(weights=tmp_path / "m")
    text = {**pipe.encode_prompt(["remove the red circle"]), "source": torch.randn(1, 4, 5, 8, 8)}
    x, t = torch.randn(1, 4, 5, 8, 8), torch.tensor([500.0])
    assert torch.allclose(pipe.denoise(x, t, text), back.denoise(x, t, text), atol=1e-5)


def _source_video(path):
    from vgen_plugins.shapes.edit_pairs import make_pair
    from vgen_plugins.shapes.world import render

    from vgen.io.video import write_video

    write_video(path, render(make_pair(0, 0).source), 8.0)
    return path


def test_vgen_edit_instruction_uses_the_trained_editor_and_from_replays(tmp_path, capsys):
    src = _source_video(tmp_path / "src.mp4")
    args = ["edit", str(src), "make the red circle blue", "--config", "tiny", "--steps", "2"]
    assert main(["-q", *args, "--out", str(tmp_path / "a")]) == 0
    (side,) = (tmp_path / "a").glob("*.json")
    data = json.loads(side.read_text())
    assert (data["method"], data["pipeline"], data["instruction"]) == ("shapes-instruct", "shapes-edit",
                                                                       "make the red circle blue")
    assert data["edit"]["kind"] == "colour" and data["edit"]["model_calls"] >= 1 and data["edit"]["start_sigma"] <= 0.9
    assert main(["-q", "edit", "--from", str(side), "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / data["video"]).read_bytes() == (tmp_path / "a" / data["video"]).read_bytes()
    capsys.readouterr()
    assert main(["-q", "edit", str(src), "paint it purple", "--config", "tiny", "--steps", "1", "--out",
                 str(tmp_path / "c")]) == 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none of the forms" in err and "remove the {colour} {shape}" in err
    assert main(["edit", str(src), "make the red circle blue", "--config", "tiny", "--strength", "0"]) == 2


def test_edit_cache_trains_with_vgen_train(tmp_path):
    """Pairs -> cache (target latents; instruction + source latents as text) -> `vgen train run` (target dit, LoRA)
    -> a LoRA file whose source_in and instruction-word adapters are no longer zero, which the pipeline loads as its
    editor."""
    from safetensors.torch import load_file
    from vgen_plugins.shapes_edit.pairs_cache import write_edit_cache
    from vgen_plugins.shapes_edit.pipeline import from_base

    pipe = _tiny()
    result = write_edit_cache(pipe, tmp_path / "cache", 6, seed=0, batch=4, workers=1)
    assert result["samples"] == 6 and sum(result["kinds"].values()) == 6
    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\npipeline = "shapes-edit"\nconfig = "tiny"\ntarget = "dit"\ncaption_dropout = 0.0\n'
                      'lora_rank = 4\nlora_targets = ["to_q", "proj_out", "source_in", "words"]\nlr = 1e-2\nmixed_precision = "no"\n'
                      'data_workers = 1\n[[train.stages]]\nsteps = 3\nbuckets = [[17, 64, 64]]\n'
                      'tokens_per_batch = 640\n')
    assert main(["-q", "train", "run", "--recipe", str(recipe), "--cache", str(tmp_path / "cache"), "--out",
                 str(tmp_path / "run")]) == 0
    lora = tmp_path / "run" / "lora.safetensors"
    tensors = load_file(str(lora))
    for layer in ("source_in", "words"):
        assert any(f"{layer}.lora_B" in k and v.abs().sum() > 0 for k, v in tensors.items())
    edited = from_base(_tiny(), lora)
    assert edited.source_in.weight.abs().sum() > 0 and lora in edited.weight_files()
    assert edited.word_rows.weight.abs().sum() > 0
    assert np.isfinite(edited.source_in.weight.detach().numpy()).all()
