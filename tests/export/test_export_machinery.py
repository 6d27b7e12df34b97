"""The generic export machinery on a small real module: named inputs, symbolic axes, gate, manifest, messages."""

import json
import sys

import pytest
import torch

from vgen.cli import main
from vgen.errors import UserError
from vgen.export.exporting import export_parts
from vgen.export.parity import ParityError
from vgen.export.parts import CallModule, InputSpec, Part


class Denoiser(torch.nn.Module):
    """A DiT-shaped module: latents (B, C, T, H, W) + timestep + masked text; patchify, attend, unpatchify."""

    def __init__(self, cheat: bool = False):
        super().__init__()
        self.patch = torch.nn.Conv3d(4, 16, (1, 2, 2), (1, 2, 2))
        self.text = torch.nn.Linear(8, 16)
        self.out = torch.nn.Linear(16, 16)
        self.cheat = cheat

    def forward(self, hidden_states, timestep, encoder_hidden_states, encoder_attention_mask):
        b, _, t, h, w = hidden_states.shape
        x = self.patch(hidden_states).flatten(2).transpose(1, 2)
        seq = torch.cat([x, self.text(encoder_hidden_states)], dim=1)
        keep = torch.cat([encoder_attention_mask.new_ones(b, x.shape[1]), encoder_attention_mask], 1).bool()
        y = torch.nn.functional.scaled_dot_product_attention(seq[:, None], seq[:, None], seq[:, None],
                                                             attn_mask=keep[:, None, None, :])[:, 0]
        y = self.out(y[:, : x.shape[1]] + timestep[:, None, None] / 1000)
        if self.cheat and torch.compiler.is_exporting():  # an artifact that differs from eager: the gate must see it
            y = y + 1
        y = y.reshape(b, t, h // 2, w // 2, 4, 2, 2).permute(0, 4, 1, 2, 5, 3, 6)
        return y.reshape(b, 4, t, h, w)


def _part(cheat=False):
    inputs = [InputSpec("hidden_states", ["batch", 4, "frames", "height", "width"], "float32", "normal"),
              InputSpec("timestep", ["batch"], "float32", "scalar"),
              InputSpec("encoder_hidden_states", ["batch", "text_len", 8], "float32", "normal"),
              InputSpec("encoder_attention_mask", ["batch", "text_len"], "int64", "mask")]
    module = Denoiser(cheat)
    return Part("dit", CallModule(module, "forward", [i.name for i in inputs]), inputs,
                multiples={"height": 2, "width": 2})


SHAPES = [{"batch": 1, "frames": 2, "height": 4, "width": 6, "text_len": 3},
          {"batch": 3, "frames": 1, "height": 8, "width": 2, "text_len": 5}]


def test_onnx_export_of_a_module_with_named_inputs_and_dynamic_axes(tmp_path):
    import onnx

    manifest = export_parts([_part()], "onnx", tmp_path / "e", shapes=SHAPES)
    model = onnx.load(str(tmp_path / "e" / "dit.onnx"))
    assert model.opset_import[0].version >= 18
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert list(dims) == ["hidden_states", "timestep", "encoder_hidden_states", "encoder_attention_mask"]
    assert dims["hidden_states"][1] == 4 and all(isinstance(d, str) for d in dims["hidden_states"][2:])
    assert dims["encoder_hidden_states"][2] == 8  # the fixed axes stay fixed, every role axis is symbolic
    assert all(isinstance(d, str) for d in dims["encoder_hidden_states"][:2] + dims["encoder_attention_mask"])
    parity = manifest["parts"]["dit"]["parity"]
    assert [r["dims"] for r in parity] == SHAPES and all(r["max_rel"] <= 1e-4 for r in parity)
    on_disk = json.loads((tmp_path / "e" / "vgen-engine.json").read_text())
    assert on_disk["parts"]["dit"]["files"]["dit.onnx"]["bytes"] == (tmp_path / "e" / "dit.onnx").stat().st_size


def test_fp16_export_with_external_weights(tmp_path):
    """fp16 passes its own tolerance; weights in a .data file (automatic over 2 GB) load and are in the manifest."""
    manifest = export_parts([_part()], "onnx", tmp_path / "e", shapes=SHAPES, dtype="fp16", external_data=True)
    assert set(manifest["parts"]["dit"]["files"]) == {"dit.onnx", "dit.onnx.data"}
    part = manifest["parts"]["dit"]
    assert part["inputs"][0]["dtype"] == "float16" and part["inputs"][3]["dtype"] == "int64"
    assert manifest["tolerance"] == pytest.approx(2e-2)


def test_parity_gate_fails_the_export_and_writes_nothing(tmp_path, capsys):
    with pytest.raises(ParityError, match=r"parity gate failed: dit \(onnx\) at batch=1.* > tolerance"):
        export_parts([_part(cheat=True)], "onnx", tmp_path / "e", shapes=SHAPES)
    assert not (tmp_path / "e").exists() and not list(tmp_path.iterdir())
    assert "max abs error" in capsys.readouterr().err


def test_missing_packages_are_named(monkeypatch, tmp_path):
    from vgen_export.onnx import graph as onnx_graph

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    with pytest.raises(UserError, match="pip install tensorrt"):
        export_parts([_part()], "tensorrt", tmp_path / "e", shapes=SHAPES)
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(UserError, match="pip install onnxruntime-gpu"):
            onnx_graph.providers(torch.device("cuda"))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(UserError, match="pip install onnxruntime"):
        onnx_graph.providers(torch.device("cpu"))


def test_cli_one_line_errors(capsys):
    for argv, needle in ((["export", "tflite", "--config", "tiny"],
                          "unknown export format 'tflite'; registered: aoti, onnx, tensorrt"),
                         (["export", "onnx", "--config", "tiny", "--precision", "fp16"],
                          "onnx export has no option 'precision' (it reads: opset, external_data)"),
                         (["export", "aoti", "--config", "tiny", "--opset", "20"], "aoti export has no option 'opset'"),
                         (["export", "onnx", "--config", "tiny", "--opset", "17"], "--opset must be >= 18"),
                         (["export", "onnx", "--config", "tiny", "--parts", "dit,unet"], "unknown part 'unet'"),
                         (["export", "onnx", "--config", "tiny", "--shapes", "frames=6;frames=9"], "frames must be 4k+1"),
                         (["export", "onnx", "--config", "tiny", "--dtype", "int8"], "--dtype must be one of")):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err


def test_engines_resolve_through_the_registry(tmp_path, capsys):
    """--engine takes torch or a registered format; a folder whose format no plugin registers names it and the
    registered ones (one line, exit 2)."""
    sample = ["sample", "x", "--pipeline", "hunyuan-video", "--config", "tiny", "--steps", "1", "--frames", "1",
              "--height", "32", "--width", "32", "--out", str(tmp_path / "o")]
    capsys.readouterr()
    assert main([*sample, "--engine", "nonesuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("unknown engine 'nonesuch'; registered: torch, aoti, onnx, tensorrt") and "\n" not in err
    folder = tmp_path / "engine"
    folder.mkdir()
    (folder / "vgen-engine.json").write_text(json.dumps({"manifest_version": 1, "format": "nonesuch", "parts": {}}))
    assert main([*sample, "--engine", "nonesuch", "--engine-dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"{folder / 'vgen-engine.json'}: format 'nonesuch' is not registered by any plugin "
                        "(is it installed?); registered: aoti, onnx, tensorrt") and "\n" not in err, err


def test_a_plugin_exporter_that_breaks_the_contract_is_named_in_one_line(tmp_path):
    """Checked where the name is resolved: an object without the Exporter members, or one whose name differs from
    the registered one (engine folders record the name), is refused in one line naming the plugin."""
    import os
    import subprocess
    import textwrap

    (tmp_path / "broken.py").write_text(textwrap.dedent("""
        from vgen.contract.export import ExporterBase
        from vgen.hookspecs import hookimpl

        class Half:
            name = "half"

            def export(self, part, example, folder, options):
                return []

        class Named(ExporterBase):
            name = "other"
            export = runtime = print

        @hookimpl
        def register_exporters(register):
            register("half", Half)
            register("named", Named)
    """))
    env = {**os.environ, "VGEN_PLUGINS_DIR": str(tmp_path), "VGEN_LOAD_PLUGINS": "broken"}
    for fmt, says in (("half", "exporter 'half' of plugin 'broken' is not an Exporter (vgen.contract.export): it "
                               "lacks options, available, check, gate_skipped, runtime"),
                      ("named", "exporter registered as 'named' by plugin 'broken' calls itself 'other'")):
        res = subprocess.run([sys.executable, "-m", "vgen", "export", fmt, "--config", "tiny", "--out",
                              str(tmp_path / fmt)], capture_output=True, text=True, env=env, cwd=tmp_path)
        err = [line for line in res.stderr.splitlines() if line.strip()]
        assert res.returncode == 2 and len(err) == 1 and says in err[0], res.stderr


def test_doctor_lists_every_exporter():
    from vgen.cli.doctor import checks

    rows = {r["item"]: r for r in checks()}
    for name in ("onnx", "tensorrt", "aoti"):
        assert f"exporter {name}" in rows
    assert rows["exporter onnx"]["ok"] and "onnxruntime" in rows["exporter onnx"]["detail"]
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert not rows["exporter tensorrt"]["ok"] and "pip install tensorrt" in rows["exporter tensorrt"]["detail"]


def test_export_recipe_section_and_cli_precedence(tmp_path, monkeypatch):
    from vgen.settings import load_section

    recipe = tmp_path / "deploy.toml"
    recipe.write_text('[export]\nparts = "dit"\ndtype = "fp16"\nmax = "batch=2,frames=33,height=256,width=256"\n')
    s = load_section("export", recipe, {"dtype": "bf16"})
    assert (s.parts, s.dtype, s.max) == ("dit", "bf16", "batch=2,frames=33,height=256,width=256")
    monkeypatch.setenv("VGEN_EXPORT_OPSET", "20")
    assert load_section("export", recipe).opset == 20


def test_shape_flags_become_parity_sizes_and_tensorrt_profiles():
    from types import SimpleNamespace

    from vgen_export.tensorrt.engine import profile_shapes

    from vgen.export.run import resolve_shapes

    hv = SimpleNamespace(name="hunyuan-video", temporal_compression=4, spatial_compression=8, size_multiple=16)
    s = SimpleNamespace(shapes="frames=5,height=32,width=48;batch=2,frames=9,height=48,width=32,text_len=20",
                        min=None, opt="frames=5,height=32,width=48,text_len=16", max="batch=4,frames=33,height=64")
    parity, ranges, video = resolve_shapes(hv, s)
    assert parity[0] == {"batch": 1, "frames": 2, "height": 4, "width": 6, "text_len": 8}
    assert parity[1] == {"batch": 2, "frames": 3, "height": 6, "width": 4, "text_len": 20}
    assert ranges["max"] == {"batch": 4, "frames": 9, "height": 8, "width": 6, "text_len": 20}
    assert video["opt"]["text_len"] == 16
    profile = profile_shapes(_part(), ranges)
    assert profile["hidden_states"] == {"min": [1, 4, 2, 4, 4], "opt": [1, 4, 2, 4, 6], "max": [4, 4, 9, 8, 6]}
    assert profile["encoder_hidden_states"]["max"] == [4, 20, 8]
    with pytest.raises(UserError, match="cover the parity sizes"):
        resolve_shapes(hv, SimpleNamespace(shapes=None, min=None, opt=None, max="height=16"))
