"""benchmarks/export_dit.py on the tiny DiT: eager first, then one row per engine as it finishes, a failing engine
costing only its own row (one line), and the JSON holding every row."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_export_benchmark_keeps_every_row_when_an_engine_fails(tmp_path):
    out = tmp_path / "rows.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "export_dit.py"), "--preset", "tiny", "--iters", "2",
           "--engines", "eager,nonesuch,onnx,onnx23", "--json", str(out), "--out", str(tmp_path / "engines")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split(" | ")[0] for r in rows] == ["| engine", "| torch eager", "| nonesuch", "| onnx", "| onnx23"]
    assert "unknown export format 'nonesuch'" in rows[2]

    report = json.loads(out.read_text())
    assert report["torch"] and report["config"]["preset"] == "tiny" and report["device"].startswith("CPU")
    eager, bad, onnx, onnx23 = report["rows"]
    assert eager["speedup"] == 1.0 and bad["error"].startswith("UserError:") and "\n" not in bad["error"]
    for row in (onnx, onnx23):
        assert row["error"] is None and row["runs_on"] == "CPUExecutionProvider"
        assert row["max_rel_err"] <= 1e-4 and row["ms_per_step"] > 0 and row["export_s"] > 0
