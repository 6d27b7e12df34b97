"""Camera motion from geometry on scenes the project renders (layered planes filmed by a virtual camera): every one
of HunyuanVideo's 14 classes, and the parallax that tells a translating camera from a turning one."""

import numpy as np
import pytest
from vgen_plugins.curation.camera import pair_features, track_pairs
from vgen_plugins.curation.motion import CameraMotion

from vgen.curate.camera_scenes import CLASSES, CameraScene, labelled_set, render_camera_scene
from vgen.curate.settings import CurateSettings
from vgen.curate.stages import ClipContext, SourceContext, Span

FPS = 10


def _label(frames):
    s = CurateSettings()
    src = SourceContext(None, "x.mp4", s, None, info={"fps": float(FPS)})
    clip = ClipContext(src, 0, Span(0, len(frames), 0), frames, np.arange(len(frames)) / FPS)
    CameraMotion(s)(clip)
    return clip.labels["camera_motion"], clip.scores


@pytest.fixture(scope="module")
def labelled():
    scenes = labelled_set(1, seed=21)
    return [(s, *_label(render_camera_scene(s, FPS, 128, 80))) for s in scenes]


def test_every_class_is_labelled(labelled):
    assert [s.motion for s, _, _ in labelled] == list(CLASSES)
    wrong = [(s.motion, label) for s, label, _ in labelled if label != s.motion]
    assert not wrong, wrong


def test_parallax_tells_translation_from_rotation():
    pan = render_camera_scene(CameraScene("pan left", seed=3, seconds=1.0), FPS, 128, 80)
    tilt = render_camera_scene(CameraScene("tilt left", seed=3, seconds=1.0), FPS, 128, 80)
    shares = []
    for frames in (pan, tilt):
        pairs, _gap = track_pairs(frames, FPS)
        shares.append(np.mean([pair_features(a, b, 128, 80)["parallax"] for a, b in pairs]))
    assert shares[0] > 0.15 and shares[1] < 0.03, shares  # a turn moves every depth by one homography


def test_render_conventions():
    """The renderer's directions, as a labeller must read them: content moves against the camera."""
    import cv2

    def shift(motion):
        frames = render_camera_scene(CameraScene(motion, seed=4, seconds=0.5), FPS, 128, 80)
        g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in (frames[0], frames[-1])]
        return cv2.phaseCorrelate(g[0], g[1])[0]

    assert shift("tilt left")[0] > 1 and shift("tilt right")[0] < -1
    assert shift("tilt up")[1] > 1 and shift("pan down")[1] < -1
