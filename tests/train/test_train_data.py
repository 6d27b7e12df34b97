"""Buckets, token budgets, the resumable batch stream, bad clips, OOM messages and the `vgen train` CLI."""

import json
from pathlib import Path

import pytest
import torch
from conftest import write_dataset

from vgen.cli import main
from vgen.errors import UserError
from vgen.io.manifest import ClipRecord
from vgen.train import trainer
from vgen.train.data import BatchStream, Clip, Geometry, assign_bucket, batch_size, load_pixels
from vgen.train.settings import TrainSettings

BUCKETS = [(1, 32, 32), (5, 32, 32), (9, 32, 32), (9, 32, 64)]


def clip(frames, h=32, w=32, name="c.mp4"):
    return Clip(0, Path(name), "", frames, h, w)


def test_buckets_take_the_longest_fitting_length_then_the_nearest_aspect():
    assert assign_bucket(clip(9), BUCKETS) == 2
    assert assign_bucket(clip(7), BUCKETS) == 1
    assert assign_bucket(clip(17, 36, 70), BUCKETS) == 3
    assert assign_bucket(clip(1, name="x.png"), BUCKETS) == 0
    assert assign_bucket(clip(9, name="x.png"), BUCKETS) == 0  # an image file is one frame
    assert assign_bucket(clip(9), [(1, 32, 32)]) == 0  # a video trains as an image when no video bucket fits
    assert assign_bucket(clip(3), [(5, 32, 32)]) is None


def test_token_budget_sets_batch_size_as_a_multiple_of_the_processes():
    g = Geometry(temporal=4, spatial=8, patch=2)
    assert g.tokens((9, 64, 64)) == 3 * 4 * 4
    assert batch_size((9, 64, 64), g, 480, 64, 1) == 10
    assert batch_size((9, 64, 64), g, 480, 64, 4) == 8
    assert batch_size((9, 64, 64), g, 480, 6, 1) == 6
    assert batch_size((9, 64, 64), g, 10, 64, 2) == 2  # at least one sample per process


def test_batch_stream_is_seeded_and_resumable():
    groups, sizes = {0: list(range(10)), 1: [10, 11, 12]}, {0: 4, 1: 2}
    a = BatchStream(dict(groups), sizes, seed=1, stage=0)
    b = BatchStream(dict(groups), sizes, seed=1, stage=0)
    seq = [a.at(i) for i in range(12)]
    assert [b.at(i) for i in range(11, -1, -1)][::-1] == seq
    assert all(len(ids) == sizes[bk] for bk, ids in seq)
    assert BatchStream(dict(groups), sizes, seed=2, stage=0).at(0) != seq[0] or \
        BatchStream(dict(groups), sizes, seed=2, stage=0).at(1) != seq[1]
    with pytest.raises(UserError, match="no clip fits"):
        BatchStream({0: []}, {0: 1}, seed=0, stage=0)


def test_load_pixels_resizes_to_cover_and_crops(dataset):
    x = load_pixels(Clip(0, dataset.parent / "clip0.mp4", "", 9, 32, 32), (5, 16, 24))
    assert tuple(x.shape) == (3, 5, 16, 24) and -1 <= x.min() and x.max() <= 1
    with pytest.raises(UserError, match="not found"):
        load_pixels(Clip(0, dataset.parent / "missing.mp4", "", 9, 32, 32), (5, 16, 24))


def _bad_dataset(folder: Path) -> Path:
    folder.mkdir()
    (folder / "corrupt.mp4").write_bytes(b"\x00not a video" * 50)
    bad = [ClipRecord(path="missing.mp4", fps=8, width=32, height=32, frames=9, caption="gone"),
           ClipRecord(path="corrupt.mp4", fps=8, width=32, height=32, frames=9, caption="broken")]
    return write_dataset(folder, n_videos=4, n_images=0, extra_records=bad)


def test_corrupt_and_missing_clips_are_skipped_and_counted(tiny_registry, tmp_path, capsys):
    data = _bad_dataset(tmp_path / "data")
    stage = {"steps": 4, "buckets": [[9, 32, 32]], "tokens_per_batch": 96}
    result = trainer.run(TrainSettings(pipeline="tiny-train", data=data, out=tmp_path / "run", stages=[stage],
                                       checkpoint_every=0, save_final=False))
    assert result["skipped_clips"] == 2 and result["steps"] == 4
    err = capsys.readouterr().err
    assert "missing.mp4" in err and "corrupt.mp4" in err and "2 unreadable clip(s) skipped" in err


class _Unsearchable(list):
    def index(self, *args):
        raise AssertionError("the group was searched for a readable clip")


def test_a_readable_clip_is_served_without_searching_its_group():
    """A batch of 1024 from a group of 32k clips spent 340 ms in group.index when every sample searched its group
    (on the prefetch thread, under the GIL the training loop needs): only an unreadable clip searches."""
    from vgen.train.batches import _after

    assert next(_after(7, _Unsearchable([3, 7, 9]))) == 7
    assert list(_after(7, [3, 7, 9, 5])) == [7, 9, 5, 3]  # then the clips after it, wrapping round


def test_out_of_memory_names_the_bucket(tiny_registry, dataset, tmp_path, monkeypatch):
    import train_tiny_pipeline

    def oom(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(train_tiny_pipeline.TinyPipeline, "denoise", oom)
    stage = {"steps": 2, "buckets": [[9, 32, 32]], "tokens_per_batch": 96}
    with pytest.raises(UserError, match=r"out of memory on bucket 9x32x32 .*activation_checkpointing"):
        trainer.run(TrainSettings(pipeline="tiny-train", data=dataset, out=tmp_path / "run", stages=[stage]))


def test_cli_cache_then_run_with_activation_checkpointing(tiny_registry, dataset, tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[train]\npipeline = "tiny-train"\ndata = "{dataset}"\ncheckpoint_every = 2\n'
                      '[[train.stages]]\nsteps = 3\nbuckets = [[1, 32, 32], [9, 32, 32]]\ntokens_per_batch = 64\n')
    assert main(["train", "cache", "--recipe", str(recipe), "--out", str(tmp_path / "cache")]) == 0
    assert "cached 10 samples" in capsys.readouterr().out
    rc = main(["-q", "train", "run", "--recipe", str(recipe), "--cache", str(tmp_path / "cache"), "--out",
               str(tmp_path / "run"), "--set", "activation_checkpointing=true", "--set", "ema_decay=0.5", "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["steps"] == 3 and Path(result["final_ema"]).is_dir()
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["activation_checkpointing"] is True


def test_cli_user_mistakes_are_one_line(tiny_registry, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\npipeline = "tiny-train"\nlearning_rate = 1\n')
    assert main(["train", "run", "--recipe", str(bad)]) == 2
    assert main(["train", "run", "--recipe", str(bad), "--set", "nonsense"]) == 2
    bad.write_text('[train]\npipeline = "tiny-train"\n[[train.stages]]\nbuckets = [[4, 32, 32]]\n')
    assert main(["train", "run", "--recipe", str(bad)]) == 2
    assert main(["train", "run", "--set", "pipeline=tiny-train", "--out", str(tmp_path / "o")]) == 2  # no data
    assert main(["train", "run", "--set", "pipeline=tiny-train", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(line.startswith("error: ") for line in err), err
    assert "learning_rate" in err[0] and "4k+1" in err[2] and "no training data" in err[3]


def test_activation_checkpointing_keeps_the_losses(tiny_registry, dataset, tmp_path):
    import train_tiny_pipeline

    from vgen.train.distributed import repeated_blocks

    assert len(repeated_blocks(train_tiny_pipeline.factory().transformer)) == 2  # the blocks, not lists inside them
    stage = {"steps": 3, "buckets": [[1, 32, 32]], "tokens_per_batch": 64}
    runs = []
    for ckpt in (False, True):
        s = TrainSettings(pipeline="tiny-train", data=dataset, out=tmp_path / str(ckpt), stages=[stage],
                          activation_checkpointing=ckpt, checkpoint_every=0, save_final=False, lr=1e-2)
        runs.append(trainer.run(s)["last_loss"])
    assert runs[0] == runs[1]


def test_many_clips_decode_in_worker_processes_with_the_same_pixels(dataset):
    """Past a few hundred clips, decoding moves to spawned processes (PyAV's frame conversion holds the GIL); the
    pixels are the ones the in-process path gives, and a missing clip comes back as its UserError."""
    from concurrent.futures import ProcessPoolExecutor

    from vgen.train.data import decode_pool, try_pixels_half

    clips = [Clip(0, dataset.parent / f"clip{i}.mp4", "", 9, 32, 32) for i in range(2)]
    clips.append(Clip(0, dataset.parent / "missing.mp4", "", 9, 32, 32))
    with decode_pool(2, 1000) as pool:
        assert isinstance(pool, ProcessPoolExecutor)
        got = list(pool.map(try_pixels_half, clips, [(5, 16, 24)] * 3))
    for c, x in zip(clips[:2], got[:2], strict=True):
        assert torch.equal(torch.from_numpy(x), load_pixels(c, (5, 16, 24)).half())  # numpy: a plain pipe
    assert isinstance(got[2], UserError) and "not found" in str(got[2])
    assert not isinstance(decode_pool(2, 10), ProcessPoolExecutor)  # a few clips: threads, no start-up cost


def test_decode_clips_keeps_order_past_its_window(dataset):
    """More clips than the window: each comes back in order, in place, a missing one as its UserError."""
    from vgen.train.data import decode_clips

    clips = [Clip(0, dataset.parent / f"clip{i % 2}.mp4", "", 9, 32, 32) for i in range(5)]
    clips.insert(2, Clip(0, dataset.parent / "missing.mp4", "", 9, 32, 32))
    buckets = [(5, 16, 24) if i % 2 else (9, 32, 32) for i in range(len(clips))]
    got = list(decode_clips(list(zip(clips, buckets, strict=True)), workers=2, window=2))
    assert len(got) == len(clips) and isinstance(got[2], UserError)
    for i, (c, b) in enumerate(zip(clips, buckets, strict=True)):
        if i != 2:
            assert torch.equal(got[i], load_pixels(c, b)), i
