"""Resumability and engines: Ctrl-C and a hard kill midway, then a rerun, give the same manifest as one uninterrupted
run (made with a 2-worker process pool, so the pool is checked against the serial engine too)."""

import os
import signal
import subprocess
import sys
import time

import pytest
from curate_data import FPS, H, W

from vgen.curate.synthetic import Scene, write_scenes

FLAGS = ["--min-duration", "1.5", "--min-side", "32"]
N = 10  # enough inputs that a fast machine is still working when the signal lands


def _inputs(folder, n=N):
    folder.mkdir()
    for i in range(n):
        write_scenes(folder / f"v{i}.mp4", [Scene(2.0, "pan right", 100 + i), Scene(2.0, "tilt up", 200 + i)],
                     FPS, W, H)


def _start(inp, out, *extra):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # a runner that started us in the background may have SIGINT ignored, and Python then keeps it ignored
    return subprocess.Popen([sys.executable, "-m", "vgen", "curate", str(inp), "--out", str(out), *FLAGS, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _done(out):
    folder = out / ".curate" / "done"
    return [p for p in folder.glob("*.jsonl") if not p.name.startswith(".")] if folder.is_dir() else []


def _wait_done(out, n, proc, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if len(_done(out)) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"run ended early: {proc.communicate()}")
        time.sleep(0.02)
    pytest.fail("no progress")


def test_interrupt_and_kill_then_resume_equals_uninterrupted(tmp_path):
    inp = tmp_path / "in"
    _inputs(inp)
    out = tmp_path / "out"
    proc = _start(inp, out)  # 1) Ctrl-C after the first input: exit 130, finished work kept
    _wait_done(out, 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    partial = (out / "manifest.jsonl").read_text().splitlines()
    assert 2 <= len(partial) < 2 * N
    proc = _start(inp, out)  # 2) crash (SIGKILL) after one more input
    _wait_done(out, len(_done(out)) + 1, proc)
    proc.kill()
    proc.wait()
    n_done = len(_done(out))
    assert 2 <= n_done < N
    proc = _start(inp, out)  # 3) resume to the end
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"{n_done} already done, {N - n_done} to run" in err
    assert f"curated {N} inputs" in stdout
    ref = tmp_path / "ref"
    proc = _start(inp, ref, "--workers", "2")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    resumed = (out / "manifest.jsonl").read_text()
    assert resumed == (ref / "manifest.jsonl").read_text()
    assert len(resumed.splitlines()) == 2 * N
    assert not list(out.rglob(".*.tmp*"))  # no temporary files left behind
