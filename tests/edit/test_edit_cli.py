"""``vgen edit`` with the training-free editors (FlowEdit, SDEdit) on tiny pipelines: zero strength is the source's
decode, --from reruns bit for bit, bad input is one line and exit 2."""

import json

import numpy as np
import pytest
import torch

from vgen.cli import main
from vgen.io.video import read_video, write_video

TINY = {"shapes": ["--pipeline", "shapes", "--config", "tiny"],
        "hunyuan-video": ["--pipeline", "hunyuan-video", "--config", "tiny"]}


def _source(path, frames=5, size=32):
    rng = np.random.default_rng(0)
    video = np.zeros((frames, size, size, 3), dtype=np.uint8)
    for t in range(frames):  # a square moving right on black
        video[t, 10:20, 4 + 2 * t:14 + 2 * t] = (230, 25, 25)
    video += rng.integers(0, 3, video.shape, dtype=np.uint8)
    write_video(path, video, 8.0)
    return path


def _frames(path):
    return read_video(path, audio=False).frames


def _sidecar(folder):
    (side,) = sorted(folder.glob("*.json"))
    return side, json.loads(side.read_text())


@pytest.mark.parametrize("method", ["flowedit", "sdedit"])
@pytest.mark.parametrize("pipeline", ["shapes", "hunyuan-video"])
def test_zero_strength_is_the_source_decode(tmp_path, method, pipeline):
    src = _source(tmp_path / "src.mp4")
    assert main(["-q", "edit", str(src), "--source-prompt", "a red square", "--target-prompt", "a blue square",
                 "--method", method, "--strength", "0", "--steps", "2", *TINY[pipeline], "--out",
                 str(tmp_path / "out")]) == 0
    side, data = _sidecar(tmp_path / "out")
    assert data["method"] == method and data["edit"]["edit_steps"] == 0 and data["edit"]["strength"] == 0.0
    # the same pipeline's round trip of the source, written the same way
    from vgen import registry

    torch.manual_seed(0)
    pipe = registry.get("pipeline", pipeline).factory(config="tiny")
    with torch.no_grad():
        x = torch.from_numpy(_frames(src)).float().permute(3, 0, 1, 2)[None] / 127.5 - 1
        decoded = pipe.decode(pipe.encode_video(x)).clamp(0, 1)[0].permute(1, 2, 3, 0)
    write_video(tmp_path / "roundtrip.mp4", decoded, 8.0)
    assert np.array_equal(_frames(tmp_path / "out" / data["video"]), _frames(tmp_path / "roundtrip.mp4"))


@pytest.mark.parametrize("method", ["flowedit", "sdedit"])
def test_from_reruns_bit_for_bit_and_records_provenance(tmp_path, method):
    src = _source(tmp_path / "src.mp4")
    assert main(["-q", "edit", str(src), "--source-prompt", "a red square", "--target-prompt", "a blue square",
                 "--method", method, "--strength", "0.7", "--steps", "4", "--seed", "3", *TINY["shapes"],
                 "--out", str(tmp_path / "a")]) == 0
    side, data = _sidecar(tmp_path / "a")
    import hashlib

    assert data["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert (data["seed"], data["source_prompt"], data["target_prompt"]) == (3, "a red square", "a blue square")
    assert data["edit"]["edit_steps"] > 0 and data["settings"]["strength"] == 0.7
    assert main(["-q", "edit", "--from", str(side), "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / data["video"]).read_bytes() == (tmp_path / "a" / data["video"]).read_bytes()
    assert not np.array_equal(_frames(tmp_path / "a" / data["video"]), _frames(src))  # it did edit


def test_flowedit_moves_only_by_the_velocity_difference():
    """Same source and target prompt: the two velocities cancel and nothing changes, at any strength."""
    from vgen import registry
    from vgen.flow.flowedit import flowedit

    pipe = registry.get("pipeline", "shapes").factory(config="tiny")
    latents = torch.randn(1, 4, 2, 4, 4)
    z, info = flowedit(pipe, latents, "a red square", "a red square", 0.9, torch.Generator().manual_seed(0),
                       steps=4)
    assert info["edit_steps"] > 0 and torch.allclose(z, latents, atol=1e-6)


def _one_line_error(capsys, args, needle):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_bad_input_one_line_errors(tmp_path, capsys):
    src = _source(tmp_path / "src.mp4")
    prompts = ["--source-prompt", "a", "--target-prompt", "b", *TINY["shapes"], "--out", str(tmp_path / "o")]
    _one_line_error(capsys, ["edit", str(tmp_path / "none.mp4"), *prompts], "video file not found")
    (tmp_path / "text.mp4").write_text("not a video")
    _one_line_error(capsys, ["edit", str(tmp_path / "text.mp4"), *prompts], "cannot decode video")
    import av

    with av.open(str(tmp_path / "audio.m4a"), "w", format="mp4") as c:  # a file with no video stream
        stream = c.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            c.mux(packet)
    _one_line_error(capsys, ["edit", str(tmp_path / "audio.m4a"), *prompts], "no video stream")
    _one_line_error(capsys, ["edit", str(_source(tmp_path / "f6.mp4", frames=6)), *prompts],
                    "frame count must be 4k+1")
    _one_line_error(capsys, ["edit", str(_source(tmp_path / "s36.mp4", size=36)), *prompts],
                    "refused, not resized")
    _one_line_error(capsys, ["edit", str(src), "--method", "nope", *prompts], "unknown editor 'nope'")
    _one_line_error(capsys, ["edit", str(src), "--strength", "2", *prompts], "strength")
    _one_line_error(capsys, ["edit", str(src), *TINY["shapes"]], "nothing to change")
    _one_line_error(capsys, ["edit", str(src), "make it blue", *prompts], "not both")
    _one_line_error(capsys, ["edit", "--from", str(tmp_path / "no.json")], "sidecar not found")
