"""Issue 33: a pipeline is called as diffusers users call theirs, and equals vgen.flow.loop.generate."""

import pytest
import torch

import vgen
from vgen.errors import UserError
from vgen.flow.loop import generate

TINY = dict(num_inference_steps=2, num_frames=5, height=32, width=32)


@pytest.fixture(scope="module")
def pipe():
    pytest.importorskip("vgen_plugins.hunyuan_video.pipeline")
    torch.manual_seed(0)
    return vgen.load("hunyuan-video", config="tiny")


def test_call_equals_generate_with_diffusers_names(pipe, tmp_path):
    video = pipe("a cat walks on grass", guidance_scale=4.5, seed=3, **TINY)
    ref = generate(pipe, ["a cat walks on grass"], steps=2, frames=5, height=32, width=32, embedded_guidance=4.5,
                   guidance=None, sampler=None, schedule=None, seed=3, progress=False)
    assert torch.equal(video.frames, ref.frames) and video.frames.shape == (1, 5, 32, 32, 3)
    assert video.info["embedded_guidance"] == 4.5 and video.info["guidance"] == 1.0  # hunyuan-video's meaning
    assert len(video) == 1 and video.fps == 24
    path = video.save(tmp_path / "x.mp4")
    from vgen.io.video import read_video

    assert read_video(path, audio=False).frames.shape == (5, 32, 32, 3)


def test_call_takes_vgen_names_and_refuses_unknown_ones(pipe):
    a = pipe(["a", "b"], steps=2, frames=5, video_size=[32, 32], seed=[1, 2], true_cfg_scale=2.0, negative_prompt="x")
    assert a.frames.shape[0] == 2 and a.info["guidance"] == 2.0 and a.info["negative"] == "x"
    with pytest.raises(UserError, match="unknown option 'strength'"):
        pipe("a", strength=0.5, **TINY)
    with pytest.raises(UserError, match="give one"):
        pipe("a", steps=2, num_inference_steps=3)


def test_guidance_scale_is_true_cfg_on_the_default_model():
    pipe = vgen.load("shapes", config="tiny")
    video = pipe("a red circle moving right", num_inference_steps=1, guidance_scale=3.0, height=32, width=32)
    assert video.info["guidance"] == 3.0 and video.info["embedded_guidance"] is None


def test_readme_python_example_is_the_callable_pipeline():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "README.md").read_text()
    section = text.split("## Python", 1)[1].split("\n## ", 1)[0]
    assert 'pipe = vgen.load("' in section and ".save(" in section and "num_inference_steps" in section
