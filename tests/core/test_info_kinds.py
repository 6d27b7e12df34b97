"""Issue 33: ``vgen info`` describes the shipped pipeline folder, a LoRA file and an engine folder."""

import json

import torch
from safetensors.torch import save_file

from vgen.cli import main


def _info(capsys, path) -> dict:
    assert main(["info", str(path)]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_on_the_shipped_weights_folder(capsys):
    from vgen_plugins.shapes_model.pipeline import WEIGHTS_DIR

    d = _info(capsys, WEIGHTS_DIR)
    assert d["kind"] == "pipeline" and d["class"] == "ShapesPipeline"
    assert set(d["components"]) == {"transformer", "vae", "text_encoder", "tokenizer"}
    dit = d["components"]["transformer"]
    assert dit["class"] == "HunyuanVideoTransformer3DModel" and dit["parameters"] > 10_000_000
    assert d["components"]["tokenizer"]["files"] == ["tokenizer.json", "tokenizer_config.json"]
    assert d["parameters"] == sum(c.get("parameters", 0) for c in d["components"].values())


def test_info_on_a_lora_file_and_a_plain_safetensors_file(tmp_path, capsys):
    lora = tmp_path / "lora.safetensors"
    save_file({"transformer.a.lora_A.weight": torch.zeros(4, 8), "transformer.a.lora_B.weight": torch.zeros(8, 4),
               "transformer.b.lora_A.weight": torch.zeros(4, 8), "transformer.b.lora_B.weight": torch.zeros(8, 4)},
              str(lora), metadata={"vgen_pipeline": "shapes", "rank": "4"})
    d = _info(capsys, lora)
    assert (d["kind"], d["layers"], d["rank"], d["prefixes"], d["pipeline"]) == ("lora", 2, 4, ["transformer"],
                                                                                 "shapes")
    plain = tmp_path / "w.safetensors"
    save_file({"w": torch.zeros(3, 5, dtype=torch.bfloat16)}, str(plain))
    d = _info(capsys, plain)
    assert (d["kind"], d["parameters"], d["dtypes"]) == ("safetensors", 15, ["bfloat16"])


def test_info_on_an_engine_folder(tmp_path, capsys):
    from vgen.engines import manifest

    (tmp_path / "dit.onnx").write_bytes(b"x")
    manifest.write(tmp_path, {"format": "onnx", "dtype": "fp32", "precision": "fp32", "pipeline": "hunyuan-video",
                              "parts": {"dit": {"files": {"dit.onnx": {"bytes": 1, "sha256": "0"}},
                                                "inputs": [{"name": "hidden_states"}], "parity": {"max_abs": 1e-6}}}})
    d = _info(capsys, tmp_path)
    assert (d["kind"], d["format"], d["pipeline"]) == ("engine", "onnx", "hunyuan-video")
    assert d["parts"]["dit"]["files"] == ["dit.onnx"] and d["parts"]["dit"]["inputs"] == ["hidden_states"]
    assert "--engine onnx --engine-dir" in d["run"]
