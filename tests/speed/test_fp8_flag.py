"""``vgen sample --fp8``: the DiT (not the text encoder before it) goes through vgen.nn.fp8.to_fp8; a device without
FP8 matmuls or an install without the module is one line and exit 2."""

import json
import sys

import pytest

from vgen.cli import main
from vgen.errors import UserError

TINY = ["--pipeline", "shapes", "--config", "tiny", "--steps", "2", "--frames", "1", "--height", "16", "--width",
        "16", "--guidance", "1"]


def _one_line_error(capsys, args, needle):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_fp8_converts_the_dit_and_the_sidecar_counts_it(tmp_path, monkeypatch):
    fp8 = pytest.importorskip("vgen.nn.fp8")
    if not fp8.fp8_supported("cpu"):
        pytest.skip("this torch has no CPU FP8 matmul")
    given = []
    real = fp8.to_fp8
    monkeypatch.setattr(fp8, "to_fp8", lambda module: given.append(module) or real(module))
    assert main(["-q", "sample", "a red circle", *TINY, "--fp8", "--out", str(tmp_path)]) == 0
    side = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert type(given[0]).__name__ == "HunyuanVideoTransformer3DModel"  # the DiT inside the shapes denoiser
    assert side["fp8_layers"] > 0 and side["settings"]["fp8"] is True


def test_no_fp8_device_is_one_line(tmp_path, capsys, monkeypatch):
    fp8 = pytest.importorskip("vgen.nn.fp8")

    def refuse(module):
        raise UserError("FP8 linear layers need row-wise scaled e4m3 matmuls (...); cpu has none: drop --fp8")

    monkeypatch.setattr(fp8, "to_fp8", refuse)
    _one_line_error(capsys, ["sample", "x", *TINY, "--fp8", "--out", str(tmp_path)], "drop --fp8")
    assert not list(tmp_path.glob("*.mp4"))


def test_missing_fp8_module_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "vgen.nn.fp8", None)  # import fails as in an install without it
    _one_line_error(capsys, ["sample", "x", *TINY, "--fp8", "--out", str(tmp_path)], "--fp8 needs vgen.nn.fp8")


def test_fast_modes_refuse_an_exported_engine(tmp_path, capsys):
    _one_line_error(capsys, ["sample", "x", *TINY, "--fp8", "--engine", "onnx", "--out", str(tmp_path)],
                    "--fp8 speeds up vgen's own DiT")
