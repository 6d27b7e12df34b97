"""benchmarks/scaling.py runs under torchrun (2 CPU processes, gloo, tiny DiT) and prints its scaling table."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scaling_benchmark_runs_on_cpu_with_gloo(tmp_path):
    out = tmp_path / "table.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
           str(ROOT / "benchmarks" / "scaling.py"), "--config", "tiny", "--frames", "5", "--height", "32",
           "--width", "48", "--text-tokens", "8", "--steps", "1", "--warmup", "0", "--dtype", "fp32",
           "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GPUs: 2x CPU" in proc.stdout and "tokens/s/GPU" in proc.stdout
    table = json.loads(out.read_text())
    assert [r["n"] for r in table["rows"]] == [1, 2]
    assert table["latent"] == [2, 4, 6] and table["tokens"] == 2 * 2 * 3
    row1, row2 = table["rows"]
    assert row1["efficiency"] == 1.0 and row2["s_per_step"] > 0
    assert row2["rel_err_vs_first"] <= 1e-5  # the 2-rank output is the 1-rank output
