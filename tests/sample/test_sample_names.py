"""Issue 33: diffusers' and HunyuanVideo's option names on ``vgen sample`` and in recipes, the notes on derived
defaults, ``--help`` defaults, ``-q`` printing each output path, ``--from`` from another folder."""

import json
import os

import pytest

from vgen.cli import main
from vgen.errors import UserError
from vgen.sample.run import load_settings

TOY = ["--pipeline", "toy"]


def _side(folder):
    (path,) = sorted(folder.glob("*.json"))
    return json.loads(path.read_text())


def test_diffusers_option_names_set_the_same_settings(toy_registered, tmp_path, capsys):
    base = ["sample", "a red ball", *TOY, "--out"]
    assert main([*base, str(tmp_path / "vgen"), "--steps", "2", "--shift", "5", "--guidance", "2", "--negative",
                 "dark", "--frames", "9", "--height", "16", "--width", "24"]) == 0
    assert main([*base, str(tmp_path / "diffusers"), "--num-inference-steps", "2", "--flow-shift", "5",
                 "--guidance-scale", "2", "--neg-prompt", "dark", "--video-length", "9", "--video-size", "16",
                 "24"]) == 0
    a, b = _side(tmp_path / "vgen"), _side(tmp_path / "diffusers")
    for key in ("steps", "shift", "guidance", "negative", "frames", "height", "width"):
        assert a[key] == b[key], key
    assert (a["steps"], a["shift"], a["guidance"], a["frames"], a["size"]) == (2, 5.0, 2.0, 9, [24, 16])
    assert b["settings"]["guidance_scale"] is None  # resolved: --from reruns it as --guidance
    assert "guidance_scale 2 on toy is true classifier-free guidance" in capsys.readouterr().err


def test_guidance_scale_is_hunyuan_videos_embedded_guidance(tmp_path, capsys):
    pytest.importorskip("vgen_plugins.hunyuan_video.pipeline")
    args = ["sample", "a red ball", "--pipeline", "hunyuan-video", "--config", "tiny", "--num-inference-steps", "2",
            "--video-length", "5", "--video-size", "32", "32", "--guidance-scale", "3.5", "--neg-prompt", "blurry",
            "--out", str(tmp_path)]
    assert main(args) == 0
    side = _side(tmp_path)
    assert side["embedded_guidance"] == 3.5 and side["guidance"] == 1.0 and side["shift"] == 17.0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 3, err  # each said once
    assert "embedded (distilled) guidance" in notes[0]
    assert "hunyuan-video uses shift 17 below 20 steps" in err and "negative prompt is ignored at guidance 1" in err
    assert main([*args[:-1], str(tmp_path / "again"), "--embedded-cfg-scale", "2"]) == 2  # one setting, two names
    assert "give one" in capsys.readouterr().err


def test_no_note_when_the_user_chose(toy_registered, tmp_path, capsys):
    assert main(["sample", "a red ball", *TOY, "--steps", "2", "--neg-prompt", "dark", "--guidance", "2", "--out",
                 str(tmp_path)]) == 0
    assert "note:" not in capsys.readouterr().err


def test_recipe_field_aliases(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[sample]\nnum_inference_steps = 7\nflow_shift = 5.0\nembedded_cfg_scale = 6.0\n"
                      "video_size = [48, 64]\nvideo_length = 9\nnegative_prompt = 'blurry'\nguidance_scale = 3.0\n")
    s = load_settings(str(recipe))
    assert (s.steps, s.shift, s.embedded_guidance, s.height, s.width, s.frames, s.negative, s.guidance_scale) == \
        (7, 5.0, 6.0, 48, 64, 9, "blurry", 3.0)
    recipe.write_text("[sample]\nsteps = 4\nnum_inference_steps = 7\n")
    with pytest.raises(UserError, match="give one"):
        load_settings(str(recipe))
    assert load_settings(None, {"steps": 3}).steps == 3  # vgen's own names as before


def test_help_shows_defaults_and_points_to_the_grammar(capsys):
    assert main(["sample", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")
    for needle in ("--num-inference-steps", "--flow-shift", "--video-size", "--embedded-cfg-scale", "--neg-prompt",
                   "--guidance-scale", "--video-length", "[default: (pipeline's)]", "[default: (outputs)]",
                   "README 'The default model'"):
        assert needle in text, needle


def test_quiet_still_prints_each_output_path(toy_registered, tmp_path, capsys):
    assert main(["-q", "sample", "a red ball", "a blue cube", *TOY, "--steps", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert out.out.split() == [str(tmp_path / "000-a-red-ball-seed0.mp4"), str(tmp_path / "001-a-blue-cube-seed0.mp4")]
    assert out.err == ""


def test_from_resolves_relative_paths_against_the_sidecar_folder(toy_registered, tmp_path, monkeypatch):
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from vgen.io.video import read_video

    work = tmp_path / "work"
    (work / "w").mkdir(parents=True)
    weights = toy_registered.factory().save(work / "w" / "toy")
    layer = next(n for n, m in toy_registered.factory().transformer.named_modules() if isinstance(m, torch.nn.Linear))
    lin = dict(toy_registered.factory().transformer.named_modules())[layer]
    a = torch.full((2, lin.in_features), 0.1)
    save_file({f"transformer.{layer}.lora_A.weight": a,
               f"transformer.{layer}.lora_B.weight": torch.full((lin.out_features, 2), 0.1)}, str(work / "l.safetensors"))
    monkeypatch.chdir(work)
    assert main(["-q", "sample", "a red ball", *TOY, "--steps", "2", "--weights", os.path.relpath(weights, work),
                 "--lora", "l.safetensors", "--out", "o"]) == 0
    side = _side(work / "o")
    assert side["settings"]["lora"] == "../l.safetensors" and side["settings"]["weights"] == "../w/toy"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["-q", "sample", "--from", str(work / "o" / "000-a-red-ball-seed0.json"), "--out", "r"]) == 0
    first, again = (read_video(f / "000-a-red-ball-seed0.mp4", audio=False).frames for f in (work / "o", elsewhere / "r"))
    assert np.array_equal(first, again)


def test_export_defaults_to_the_pipeline_sample_does():
    from vgen.export.settings import ExportSettings
    from vgen.sample.settings import SampleSettings

    assert ExportSettings().pipeline == SampleSettings().pipeline == "shapes"


@pytest.mark.parametrize("command", [["sample"], ["export"], ["train", "run"]])
def test_every_option_of_the_first_hour_commands_shows_a_default(command):
    """Options whose default is resolved later (recipe, pipeline) say so instead of showing nothing."""
    import click
    import typer

    from vgen.cli import build_app

    group = typer.main.get_command(build_app())
    cmd = group
    for name in command:
        cmd = cmd.commands[name]
    silent = [p.name for p in cmd.params if isinstance(p, click.Option) and not p.is_flag and p.default is None
              and p.show_default in (None, False, True) and p.name not in ("recipe", "set_values", "data", "cache",
                                                                            "opt_shape", "max_shape", "timing_cache",
                                                                            "stop_at", "prompts_file", "image",
                                                                            "engine_dir", "lora", "from_sidecar")]
    assert not silent, silent
