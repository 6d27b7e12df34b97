"""The tiny HunyuanVideo DiT and VAE decoder through `vgen export onnx`, onnxruntime and `vgen sample --engine onnx`.

One export (module fixture, through the CLI) serves every test here: it is the slow part (~20-50 s on a busy CPU).
"""

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch

from vgen.cli import main
from vgen.errors import UserError

TINY = ["--pipeline", "hunyuan-video", "--config", "tiny"]


@pytest.fixture(scope="module")
def engine_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("engines") / "tiny-onnx"
    rc = main(["export", "onnx", *TINY, "--out", str(out)])
    assert rc == 0
    return out


def _pipe(config="tiny"):
    from vgen_plugins.hunyuan_video.pipeline import build

    torch.manual_seed(0)
    return build(config=config)


def test_manifest_records_parts_files_and_the_gate(engine_dir):
    from vgen.io.digest import sha256

    manifest = json.loads((engine_dir / "vgen-engine.json").read_text())
    assert manifest["format"] == "onnx" and manifest["dtype"] == "fp32" and manifest["opset"] >= 18
    assert set(manifest["parts"]) == {"dit", "vae_decoder"}
    for part in manifest["parts"].values():
        for name, entry in part["files"].items():
            assert sha256(engine_dir / name) == entry["sha256"]
        shapes = [tuple(r["dims"].values()) for r in part["parity"]]
        assert len(shapes) == 2 and shapes[0] != shapes[1]
        assert all(r["max_rel"] <= 1e-4 for r in part["parity"])
    dit = manifest["parts"]["dit"]
    assert [i["name"] for i in dit["inputs"]] == ["hidden_states", "timestep", "encoder_hidden_states",
                                                  "encoder_attention_mask", "pooled_projections", "guidance"]
    assert dit["inputs"][0]["shape"] == ["batch", 4, "frames", "height", "width"]
    assert dit["inputs"][2]["shape"] == ["batch", "text_len", 32]


@pytest.mark.parametrize("part", ["dit", "vae_decoder"])
def test_onnxruntime_matches_torch_at_two_new_shapes(engine_dir, part):
    """Sizes the export never saw (frames, height, width, batch and text length all change): dynamic axes."""
    from vgen.export.capture import pipeline_parts

    pipe = _pipe()
    spec = pipeline_parts(pipe, [part])[0]
    session = ort.InferenceSession(str(engine_dir / f"{part}.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == spec.input_names
    g = torch.Generator().manual_seed(7)
    for dims in ({"batch": 2, "frames": 1, "height": 8, "width": 2, "text_len": 3},
                 {"batch": 1, "frames": 4, "height": 2, "width": 10, "text_len": 11}):
        inputs = spec.make_inputs(dims, generator=g)
        with torch.no_grad():
            want = spec.module(*inputs).numpy()
        got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})[0]
        assert got.shape == want.shape
        rel = np.abs(got - want).max() / np.abs(want).max()
        assert rel <= 1e-4, (part, dims, rel)


def test_sample_engine_onnx_matches_torch(engine_dir):
    from vgen.engines.standins import apply_engine
    from vgen.flow.loop import generate

    kwargs = dict(steps=2, frames=5, height=32, width=48, seed=3, progress=False)
    want = generate(_pipe(), ["a red ball"], **kwargs).frames
    pipe = apply_engine(_pipe(), "onnx", engine_dir)
    assert type(pipe.transformer).__name__ == "EngineModule"
    assert pipe.engine_info["parts"] == {"dit": "CPUExecutionProvider", "vae_decoder": "CPUExecutionProvider"}
    got = generate(pipe, ["a red ball"], **kwargs).frames
    assert got.shape == want.shape == (1, 5, 32, 48, 3)
    assert (got - want).abs().max().item() <= 1e-3
    assert want.std() > 0.01  # a real video, not a constant


def test_text_encoders_export_and_run_inside_encode_prompt(tmp_path):
    """The LLM's layer -3 states and CLIP's pooled output: the field the pipeline reads is found and exported."""
    from vgen.engines.standins import apply_engine

    out = tmp_path / "text"
    assert main(["export", "onnx", *TINY, "--parts", "text_encoder,text_encoder_2", "--out", str(out)]) == 0
    parts = json.loads((out / "vgen-engine.json").read_text())["parts"]
    assert parts["text_encoder"]["select"] == ["hidden_states", -3]
    assert parts["text_encoder_2"]["select"] == ["pooler_output"]
    prompts = ["a dog", "a cat sits on a mat at night"]
    want = _pipe().encode_prompt(prompts)
    got = apply_engine(_pipe(), "onnx", out).encode_prompt(prompts)
    for key, value in want.items():
        assert torch.allclose(got[key].float(), value.float(), atol=1e-5), key


def test_vgen_sample_cli_runs_on_the_engine(engine_dir, tmp_path):
    rc = main(["sample", "a red ball", *TINY, "--steps", "2", "--frames", "5", "--height", "32", "--width", "32",
               "--out", str(tmp_path), "--engine", "onnx", "--engine-dir", str(engine_dir)])
    assert rc == 0
    sidecar = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert sidecar["settings"]["engine"] == "onnx"
    assert (tmp_path / sidecar["video"]).stat().st_size > 0


def _one_error_line(capsys, argv):
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("damage", ["flip", "truncate", "missing", "manifest", "format"])
def test_corrupt_engine_dir_fails_with_one_line_naming_the_file(engine_dir, tmp_path, capsys, damage):
    bad = tmp_path / "engine"
    shutil.copytree(engine_dir, bad)
    target, engine = bad / "dit.onnx", "onnx"
    if damage == "flip":  # same size, one byte changed: only the sha256 can tell
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:1000])
    elif damage == "missing":
        target.unlink()
    elif damage == "manifest":
        target = bad / "vgen-engine.json"
        target.write_text("{not json")
    else:
        target, engine = bad / "vgen-engine.json", "aoti"
    err = _one_error_line(capsys, ["sample", "x", *TINY, "--steps", "1", "--frames", "1", "--height", "32",
                                   "--width", "32", "--out", str(tmp_path / "o"), "--engine", engine,
                                   "--engine-dir", str(bad)])
    assert str(target) in err


def test_engine_from_another_model_is_refused(engine_dir):
    from vgen.engines.standins import apply_engine

    other = _pipe({"preset": "tiny", "transformer": {"num_layers": 1}})
    with pytest.raises(UserError, match="vgen-engine.json: dit was exported from a different model"):
        apply_engine(other, "onnx", engine_dir)


def test_missing_engine_dir_and_torch_engine(tmp_path):
    from vgen.engines.standins import apply_engine

    pipe = _pipe()
    assert apply_engine(pipe, "torch", None) is pipe
    with pytest.raises(UserError, match="vgen-engine.json: missing"):
        apply_engine(pipe, "onnx", tmp_path)
    with pytest.raises(UserError, match="needs --engine-dir"):
        apply_engine(pipe, "onnx", None)


def test_opset_23_exports_fused_attention_with_text_masks(tmp_path):
    # opset 23 turns SDPA into ONNX Attention (one node, where opset 18 spells out matmul/softmax/matmul);
    # onnxruntime's kernel refuses a key-padding mask broadcast over the queries, so the export spells it out
    import onnx

    out = tmp_path / "opset23"
    assert main(["-q", "export", "onnx", *TINY, "--parts", "dit", "--opset", "23", "--out", str(out)]) == 0
    graph = onnx.load(str(out / "dit.onnx"), load_external_data=False).graph
    # 2 refiner + 2 dual-stream (joint) + 2 single-stream blocks
    assert sum(node.op_type == "Attention" for node in graph.node) == 6
    parity = json.loads((out / "vgen-engine.json").read_text())["parts"]["dit"]["parity"]
    assert all(r["max_rel"] <= 1e-4 for r in parity)
    text_lens = [r["dims"]["text_len"] for r in parity]
    assert len(set(text_lens)) == 2  # two text lengths: padded text tokens (masks) at both
