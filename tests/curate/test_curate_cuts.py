"""Shot boundaries on real H.264 files with known cut frames: within +-1 frame, precision and recall >= 0.95."""

import numpy as np
import pytest
from curate_data import FPS, H, W
from vgen_plugins.curation.shots import combine_cuts, detect_cuts

from vgen.curate.settings import CurateSettings
from vgen.curate.synthetic import Scene, write_scenes

KINDS = ["pan left", "pan right", "tilt up", "tilt down", "zoom in", "zoom out", "static shot", "handheld shot"]


@pytest.fixture(scope="module")
def cut_videos(tmp_path_factory):
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("cuts")
    videos = []
    for v in range(4):
        scenes = []
        for i in range(7):
            motion = KINDS[rng.integers(len(KINDS))]
            scenes.append(Scene(float(rng.uniform(1.2, 3.5)), motion, seed=v * 50 + i,
                                speed=0.12 if "zoom" in motion else 0.25,
                                blur=2.0 if rng.random() < 0.15 else 0.0, gain=0.35 if rng.random() < 0.1 else 1.0,
                                text="Breaking news 24" if rng.random() < 0.15 else None))
        path = root / f"cuts{v}.mp4"
        videos.append((path, write_scenes(path, scenes, FPS, W, H)))
    return videos


def _precision_recall(videos, settings):
    tp = fp = fn = 0
    for path, truth in videos:
        found, total = detect_cuts(path, settings, W)
        assert total > 0
        matched = [f for f in found if any(abs(f - c) <= 1 for c in truth)]
        tp += len(matched)
        fp += len(found) - len(matched)
        fn += sum(1 for c in truth if not any(abs(f - c) <= 1 for f in found))
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp + fn


@pytest.mark.parametrize("detectors,combine", [(["adaptive"], "union"), (["content"], "union"),
                                               (["adaptive", "content"], "intersection")])
def test_cuts_within_one_frame(cut_videos, detectors, combine):
    precision, recall, n = _precision_recall(cut_videos, CurateSettings(detectors=detectors, combine=combine))
    assert n == 24
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


def test_combine_cuts():
    assert combine_cuts([[10, 50], [11, 80]], "intersection", 8) == [10]
    assert combine_cuts([[10, 50], [11, 80]], "union", 8) == [10, 50, 80]
