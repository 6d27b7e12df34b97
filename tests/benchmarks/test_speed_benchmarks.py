"""The speed benchmarks' tiny modes on the CPU (benchmarks/vae_decode.py, fp8_dit.py, whole_sample.py): each prints
one markdown table naming the device, with the rows and columns its GPU run has, and numbers that say the two
implementations agree; bad flags are one argparse line and exit 2."""

import os
import subprocess
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(autouse=True)
def _benchmarks_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run(module: str, argv: list[str], capsys) -> tuple[list[str], list[dict]]:
    """(header lines, table rows as {column: cell}) of ``module.main(argv)``'s output."""
    main = __import__(module).main
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    table = [line for line in lines if line.startswith("| ")]
    columns = [c.strip() for c in table[0].strip("|").split("|")]
    assert set(table[1].replace("|", "").split()) == {"---"}
    rows = [dict(zip(columns, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in table[2:]]
    return [line for line in lines if not line.startswith("| ")], rows


def test_vae_decode_tiny(capsys, tmp_path):
    out = tmp_path / "vae.md"
    head, rows = run("vae_decode", ["--tiny", "--modes", "tiled,untiled", "--warmup", "0", "--iters", "1",
                                    "--out", str(out)], capsys)
    assert any(line.startswith("device: CPU") for line in head)
    assert [(r["mode"], r["impl"]) for r in rows] == [("tiled", "diffusers"), ("tiled", "vgen"),
                                                      ("untiled", "diffusers"), ("untiled", "vgen")]
    for r in rows:
        assert float(r["median s"]) > 0 and r["peak GiB"] == "-"  # no CUDA: no peak to read
        if r["impl"] == "vgen":
            assert 0 <= float(r["diff / range"]) < 1e-4  # fp32: the same frames
            assert float(r["x diffusers time"]) > 0
    text = out.read_text()
    assert text.startswith("## ") and "| mode | impl |" in text and "vae_decode.py --tiny" in text


def test_fp8_dit_tiny(capsys):
    _, rows = run("fp8_dit", ["--tiny", "--warmup", "1", "--iters", "1"], capsys)
    assert [r["impl"] for r in rows] == ["fp32", "fp8"]
    base, fp8 = rows
    assert base["FP8 layers"] == "0 / 40" and fp8["FP8 layers"] == "17 / 40"
    assert 1e-4 < float(fp8["rel err (norm)"]) < 0.05 and float(fp8["x bf16 time"]) > 0


def test_whole_sample_tiny_matches_diffusers(capsys):
    head, rows = run("whole_sample", ["--tiny", "--estimate-steps", "50"], capsys)
    assert "5x32x32, 2 steps" in head[0]
    assert [r["impl"] for r in rows] == ["diffusers", "vgen"]
    ref, mine = rows
    assert float(mine["frames max diff"]) < 1e-4  # same weights, noise and settings: the same video
    for r in rows:
        assert r["DiT calls"] == "2" and float(r["total s"]) > 0
        parts = float(r["text s"]) + float(r["denoise s"]) + float(r["decode s"])
        assert parts <= float(r["total s"]) * 1.01 + 0.01
        assert float(r["total @N est s"]) > float(r["total s"])  # 50 steps cost more than 2


def test_whole_sample_fast_modes_tiny(capsys):
    _, rows = run("whole_sample", ["--tiny", "--only", "vgen", "--fp8", "--step-cache", "0.2", "--steps", "6"],
                  capsys)
    (r,) = rows
    assert r["modes"].startswith("fp8 (") and "step-cache 0.2" in r["modes"]
    full, skipped = (int(r["DiT calls"].split()[i]) for i in (0, 3))
    assert full + skipped == 6 and full >= 1


@pytest.mark.parametrize("module, argv, message", [
    ("vae_decode", ["--tiny", "--modes", "tiled,sideways"], "unknown 'sideways'"),
    ("vae_decode", ["--latent", "16x60"], "FxHxW"),
    ("whole_sample", ["--tiny", "--offload", "model"], "--only vgen|diffusers"),
    ("whole_sample", ["--tiny", "--only", "diffusers", "--fp8"], "vgen's modes"),
    ("whole_sample", ["--tiny", "--frames", "6"], "4k+1"),
])
def test_bad_flags_are_one_line(module, argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        __import__(module).main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[-1]


def test_suite_script_parses_and_runs_every_benchmark():
    suite = BENCH / "gpu_speed_suite.sh"
    proc = subprocess.run(["bash", "-n", str(suite)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = suite.read_text()
    for script in ("vae_decode.py", "fp8_dit.py", "whole_sample.py"):
        assert f"benchmarks/{script}" in text


@pytest.mark.slow
def test_suite_tiny_writes_a_table_per_step_and_skips_past_the_budget(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "SUITE": "tiny", "BUDGET": "300", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(BENCH / "gpu_speed_suite.sh")], capture_output=True, text=True, env=env,
                          cwd=BENCH.parent, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("vae_decode", "fp8_dit", "whole_tiny", "whole_tiny_fast"):
        text = (tmp_path / f"{name}.md").read_text()
        assert "device: CPU" in text and "| --- |" in text, name
    log = (tmp_path / "suite.log").read_text()
    assert "== never: skipped" in log and not (tmp_path / "never.md").exists()
    assert log.count(": exit 0 after") == 4
