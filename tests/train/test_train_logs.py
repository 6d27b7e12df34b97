"""The loss curve: its smoothed line follows a falling loss instead of trailing it."""

import json
import random

import pytest

from vgen.train.logs import plot_loss, smoothed


def test_smoothing_keeps_a_trend_and_removes_noise():
    line = [1.0 - 0.02 * i for i in range(40)]
    assert all(abs(a - b) < 1e-12 for a, b in zip(smoothed(line), line, strict=True))  # no lag
    rng = random.Random(0)
    noisy = [y + rng.uniform(-0.1, 0.1) for y in line]
    err = sum(abs(a - b) for a, b in zip(noisy, line, strict=True))
    assert sum(abs(a - b) for a, b in zip(smoothed(noisy, 0.1), line, strict=True)) < 0.6 * err


def test_plot_loss_writes_a_png(tmp_path):
    from PIL import Image

    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": s, "loss": 1 / s}) + "\n" for s in range(1, 30)))
    png = plot_loss(metrics, tmp_path / "loss.png")
    assert png is not None and Image.open(png).size == (640, 360)


def test_profile_steps_write_where_the_time_goes(hv_cache, tmp_path):
    from conftest import hv_settings

    from vgen.train import trainer

    s = hv_settings(cache=hv_cache, out=tmp_path / "run", stages=[{"name": "s", "steps": 4, "buckets": [[9, 32, 32]],
                                                                    "tokens_per_batch": 64}],
                    checkpoint_every=0, profile_steps=2, profile_from=1)
    trainer.run(s)
    folder = tmp_path / "run" / "profile"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["first_step"] == 1 and summary["wall_ms_per_step"] > 0
    assert "aten::" in (folder / "top_ops.txt").read_text()
    import gzip

    trace = json.loads(gzip.decompress((folder / "trace.json.gz").read_bytes()))
    assert any(e.get("name", "").startswith("aten::") for e in trace["traceEvents"])


@pytest.mark.gpu
def test_gpu_busy_is_the_kernels_time_counted_once(tmp_path):
    """GPU busy = the device events of the trace (kernels, copies, memsets), not that plus the operators that
    launched them (which doubled it: 190 ms busy in a 115 ms step)."""
    import gzip

    import torch

    from vgen.train.profiling import StepProfiler

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    model = torch.nn.Sequential(torch.nn.Linear(512, 2048), torch.nn.GELU(), torch.nn.Linear(2048, 512)).cuda()
    x = torch.randn(4096, 512, device="cuda")
    profiler = StepProfiler(tmp_path, first=2, steps=3)
    for step in range(6):
        profiler.before(step)
        model(x).square().mean().backward()
        profiler.after(step + 1)
    summary = json.loads((tmp_path / "profile" / "summary.json").read_text())
    events = json.loads(gzip.decompress((tmp_path / "profile" / "trace.json.gz").read_bytes()))["traceEvents"]
    device_ms = sum(e.get("dur", 0) for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")) / 1000
    assert device_ms > 0
    assert abs(summary["gpu_busy_ms_per_step"] - device_ms / 3) < 0.05 * device_ms / 3
    assert 0 < summary["gpu_busy_share"] <= 1.0


def test_loss_mean_is_the_mean_of_the_steps_since_the_last_record(hv_cache, tmp_path):
    """Losses stay on the device between records (no wait for the GPU each step); what is logged is unchanged."""
    from conftest import hv_settings

    from vgen.train import trainer

    stage = {"name": "s", "steps": 4, "buckets": [[9, 32, 32]], "tokens_per_batch": 64}
    logged = {}
    for every in (1, 2):
        out = tmp_path / f"every{every}"
        trainer.run(hv_settings(cache=hv_cache, out=out, stages=[stage], log_every=every))
        logged[every] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    each = {r["step"]: r["loss"] for r in logged[1]}
    assert [r["step"] for r in logged[2]] == [2, 4]
    for r in logged[2]:
        assert abs(r["loss"] - each[r["step"]]) < 1e-9
        assert abs(r["loss_mean"] - (each[r["step"]] + each[r["step"] - 1]) / 2) < 1e-9
        assert isinstance(r["grad_norm"], float)
