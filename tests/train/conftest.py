import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

COLOURS = {"red": (230, 25, 25), "green": (30, 200, 30), "blue": (40, 70, 240), "yellow": (240, 220, 20)}


def make_clip(colour, direction, frames=9, size=32):
    """A square of ``colour`` moving ``direction`` over a black canvas, uint8 (T, H, W, 3)."""
    video = np.zeros((frames, size, size, 3), dtype=np.uint8)
    side = size // 4
    for t in range(frames):
        shift = int(t * (size - side) / max(1, frames - 1))
        x = shift if direction == "right" else size - side - shift
        y = size // 2 - side // 2
        video[t, y:y + side, x:x + side] = COLOURS[colour]
    return video


def write_dataset(folder: Path, n_videos=8, n_images=2, frames=9, size=32, extra_records=()):
    from PIL import Image

    from vgen.io.manifest import ClipRecord, write_manifest
    from vgen.io.video import write_video

    folder.mkdir(parents=True, exist_ok=True)
    records = []
    names = list(COLOURS)
    for i in range(n_videos):
        colour, direction = names[i % 4], ("left", "right")[i // 4 % 2]
        path = folder / f"clip{i}.mp4"
        write_video(path, make_clip(colour, direction, frames, size), fps=8)
        records.append(ClipRecord(path=path.name, fps=8, width=size, height=size, frames=frames,
                                  caption=f"a {colour} square moving {direction}"))
    for i in range(n_images):
        colour = names[i % 4]
        path = folder / f"image{i}.png"
        Image.fromarray(make_clip(colour, "left", 1, size)[0]).save(path)
        records.append(ClipRecord(path=path.name, fps=1, width=size, height=size, frames=1,
                                  caption=f"a {colour} square"))
    records += list(extra_records)
    write_manifest(folder / "manifest.jsonl", records)
    return folder / "manifest.jsonl"


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("train-data"))


@pytest.fixture
def tiny_registry():
    """Registers the tiny pipeline as "tiny-train" for in-process runs."""
    import train_tiny_pipeline

    from vgen import registry

    table = registry.backends()["pipeline"]
    table["tiny-train"] = registry.Backend("pipeline", "tiny-train", train_tiny_pipeline.factory, "tests")
    yield
    table.pop("tiny-train", None)


HV_STAGE = {"steps": 200, "buckets": [[1, 32, 32], [9, 32, 32]], "tokens_per_batch": 48}


def hv_settings(**overrides):
    """Settings of a tiny hunyuan-video run (its "" prompt has no valid text token, so no caption dropout)."""
    from vgen.train.settings import TrainSettings

    kw = dict(pipeline="hunyuan-video", config="tiny", lr=3e-3, warmup_steps=10, caption_dropout=0.0,
              stages=[HV_STAGE], checkpoint_every=0)
    kw.update(overrides)
    return TrainSettings(**kw)


@pytest.fixture(scope="session")
def hv_cache(dataset, tmp_path_factory):
    """The tiny hunyuan-video latent cache of the test dataset (written once)."""
    from vgen.train.cache import build_cache

    out = tmp_path_factory.mktemp("hv-cache") / "cache"
    result = build_cache(hv_settings(data=dataset), out)
    assert result == {"samples": 10, "shards": 1, "skipped": 0}
    return out
