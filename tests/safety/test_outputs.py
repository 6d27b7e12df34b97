"""The one rule for outputs (vgen.io.outputs): what vgen may replace, what it refuses, what a killed run leaves."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import tree_hashes

from vgen.errors import UserError
from vgen.io import outputs
from vgen.io.atomic import atomic_dir, atomic_path


def test_atomic_dir_never_moves_a_file_nor_replaces_a_users_folder(tmp_path):
    target = tmp_path / "out"
    target.write_text("a file of the user")
    with pytest.raises(UserError, match="not a folder"), atomic_dir(target) as tmp:
        (tmp / "x").write_text("new")
    assert target.read_text() == "a file of the user"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no hidden .out.old, no temporary left
    target.unlink()
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="vgen did not write it"), atomic_dir(target) as tmp:
        pass
    assert (target / "mine.txt").read_text() == "keep"
    with atomic_dir(target, replace=True) as tmp:  # the command checked it (--overwrite)
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    outputs.mark(target, "export")
    with atomic_dir(target) as tmp:  # vgen's own output: replaced
        (tmp / "newer.txt").write_text("newer")
    assert sorted(p.name for p in target.iterdir()) == ["newer.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_claim_dir_states_and_overlap(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.jsonl").write_text("{}\n")
    assert outputs.claim_dir(tmp_path / "new", "train cache") == "new"
    (tmp_path / "new" / "x").write_text("1")
    assert outputs.claim_dir(tmp_path / "new", "train cache") == "own"
    with pytest.raises(UserError, match="written by `vgen train cache`"):
        outputs.claim_dir(tmp_path / "new", "export")
    assert outputs.claim_dir(tmp_path / "new", "export", overwrite=True) == "overwrite"
    for out in (data, data / "sub", tmp_path):
        with pytest.raises(UserError, match="overlaps the input"):
            outputs.claim_dir(out, "train cache", inputs=[data / "manifest.jsonl"])
    with pytest.raises(UserError, match="is a file"):
        outputs.claim_dir(data / "manifest.jsonl", "curate")
    with pytest.raises(UserError, match="is a file, not a folder"):
        outputs.claim_dir(data / "manifest.jsonl" / "sub", "curate")


def test_names_are_never_reused(tmp_path):
    (tmp_path / "003-a-red-ball-seed1.mp4").write_text("old")
    (tmp_path / "003-a-red-ball-seed1.json").write_text("{}")
    assert outputs.next_index(tmp_path) == 4
    assert outputs.free_stem(tmp_path, "003-a-red-ball-seed1") == "003-a-red-ball-seed1-2"
    assert outputs.free_stem(tmp_path, "004-a-red-ball-seed1") == "004-a-red-ball-seed1"


def test_killed_writer_leaves_a_temporary_that_the_next_run_removes(tmp_path):
    """SIGKILL while an atomic write is in flight: the target is untouched, the next run removes the leftover."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "000-x-seed0.mp4").write_bytes(b"earlier video")
    script = textwrap.dedent(f"""
        import sys, time
        from vgen.io.atomic import atomic_path
        with atomic_path({str(out / "001-x-seed0.mp4")!r}) as tmp:
            tmp.write_bytes(b"partial"); print("writing", flush=True); time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert len(left) == 1 and not (out / "001-x-seed0.mp4").exists()
    assert [p.name for p in outputs.remove_stale_temporaries(out)] == left
    assert sorted(p.name for p in out.iterdir()) == ["000-x-seed0.mp4"]
    assert (out / "000-x-seed0.mp4").read_bytes() == b"earlier video"
    with atomic_path(out / "001-x-seed0.mp4") as tmp:  # and a rerun of the same write cleans its own leftovers
        tmp.write_bytes(b"done")
    assert (out / "001-x-seed0.mp4").read_bytes() == b"done"


def test_killed_folder_write_is_cleaned_by_the_next_write_of_that_folder(tmp_path):
    """SIGKILL while a folder (a cache, an engine) is being written: the old folder stays, and the next write of the
    same folder removes the temporary the killed one left beside it."""
    target = tmp_path / "cache"
    target.mkdir()
    outputs.mark(target, "train cache")
    (target / "old.safetensors").write_bytes(b"old")
    script = textwrap.dedent(f"""
        import time
        from vgen.io.atomic import atomic_dir
        with atomic_dir({str(target)!r}) as tmp:
            (tmp / "part").write_bytes(b"partial"); print("writing", flush=True); time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(".cache.")]) == 1
    assert (target / "old.safetensors").read_bytes() == b"old"
    with atomic_dir(target) as tmp:
        outputs.mark(tmp, "train cache")
        (tmp / "new.safetensors").write_bytes(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
    assert sorted(p.name for p in target.iterdir()) == [".vgen-output", "new.safetensors"]


def test_sample_twice_keeps_both_and_cleans_a_killed_runs_temporary(tmp_path, capsys):
    from vgen.cli import main

    out = tmp_path / "o"
    args = ["-q", "sample", "a red circle moving left", "--config", "tiny", "--steps", "1", "--frames", "5",
            "--height", "16", "--width", "16", "--out", str(out)]
    assert main(args) == 0
    first = tree_hashes(out)
    (out / ".000-a-red-circle-moving-left-seed0.mp4.tmpab12cd.mp4").write_bytes(b"partial")  # a killed run's
    assert main([*args, "--guidance", "2"]) == 0  # other settings, same prompt and seed: a new name
    after = tree_hashes(out)
    assert all(after[k] == v for k, v in first.items())
    assert sorted(after) == sorted([*first, "001-a-red-circle-moving-left-seed0.mp4",
                                    "001-a-red-circle-moving-left-seed0.json"])
    side = json.loads((out / "001-a-red-circle-moving-left-seed0.json").read_text(),
                      parse_constant=lambda c: pytest.fail(f"sidecar holds {c}"))
    assert side["guidance"] == 2.0


def test_pruning_touches_only_this_runs_checkpoints(tmp_path):
    import torch

    from vgen.train import checkpoints
    from vgen.train.distributed import Dist

    for step, run in ((8, "other"), (9, "other")):  # another run's, at higher steps
        folder = checkpoints.step_dir(tmp_path, step)
        folder.mkdir(parents=True)
        (folder / checkpoints.STATE).write_text(json.dumps({"step": step, "run": run}))
    states = {"model": {"w": torch.zeros(2)}}
    for step in (1, 2, 3):
        checkpoints.save(tmp_path, step, Dist(), states, {"run": "mine", "rng": {}}, keep_last=1)
    kept = [(p.name, checkpoints.checkpoint_run(p)) for p in checkpoints.complete_checkpoints(tmp_path)]
    assert kept == [("step-0000003", "mine"), ("step-0000008", "other"), ("step-0000009", "other")]
    assert checkpoints.find_resume("auto", tmp_path, "mine").name == "step-0000003"


def test_train_run_refuses_an_existing_run_before_writing(tmp_path, capsys):
    from vgen.cli import main
    from vgen.train import runfolder

    run = tmp_path / "run"
    (run / "checkpoints" / "step-0000004").mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 4}\n')
    before = tree_hashes(run)
    assert main(["train", "run", "--out", str(run), "--data", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "--resume auto" in err and "--overwrite" in err
    assert tree_hashes(run) == before
    assert runfolder.check(run, None, True, None) == "overwrite"
    (run / "notes.txt").write_text("the user's")
    runfolder.prepare(run, "overwrite")  # only what a run writes goes
    assert sorted(p.name for p in run.iterdir()) == [".vgen-output", "notes.txt"]


def test_memory_estimate_names_the_nearest_size_that_fits():
    from types import SimpleNamespace

    from vgen import memory

    pipe = SimpleNamespace(temporal_compression=4, size_multiple=8)
    memory.check_video_fits(pipe, 1, 17, 64, 64, "cpu", 17 * 512 * 512)
    with pytest.raises(UserError, match=r"1x100001x64x64 needs about .* GiB.*nearest that fits: --frames \d+ at 64x64"):
        memory.check_video_fits(pipe, 1, 100001, 64, 64, "cpu", 17 * 512 * 512)
    with pytest.raises(UserError) as exc:
        memory.check_video_fits(pipe, 1, 401, 1024, 1024, "cpu", 17 * 512 * 512)
    frames = int(str(exc.value).split("--frames ")[1].split()[0])
    memory.check_video_fits(pipe, 1, frames, 1024, 1024, "cpu", 17 * 512 * 512)  # the size it names fits
    assert (frames - 1) % 4 == 0


def test_manifest_paths_stay_inside_unless_absolute(tmp_path):
    from vgen.io.manifest import ClipRecord

    rec = dict(fps=8, width=16, height=16, frames=5)
    manifest = tmp_path / "data" / "manifest.jsonl"
    assert ClipRecord(path="clips/a.mp4", **rec).resolve(manifest) == tmp_path / "data" / "clips" / "a.mp4"
    assert ClipRecord(path="/abs/a.mp4", **rec).resolve(manifest) == tmp_path.root / type(tmp_path)("abs/a.mp4")
    assert ClipRecord(path="clips/../a.mp4", **rec).resolve(manifest) == tmp_path / "data" / "clips" / ".." / "a.mp4"
    with pytest.raises(UserError, match="leaves the manifest's folder"):
        ClipRecord(path="../secret.mp4", **rec).resolve(manifest)
