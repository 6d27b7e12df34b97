"""The text filter on rendered clips: every text style over the area limit is caught (outlined lines, a subtitle,
a title, a scrolling ticker), rows of windows and plain scenes are not; MSER beats the gradient heuristic here."""

import numpy as np
import pytest
from vgen_plugins.curation.text import TextOverlay

from vgen.curate.settings import CurateSettings
from vgen.curate.stages import ClipContext, SourceContext, Span
from vgen.curate.synthetic import Scene, render_scene

FPS = 10


def _frames(scene):
    import cv2

    return np.stack([cv2.resize(f, (160, 90), interpolation=cv2.INTER_AREA) for f in render_scene(scene, FPS, 320, 180)])


def _rejected(frames, method):
    s = CurateSettings()
    clip = ClipContext(SourceContext(None, "x", s, None, info={"fps": float(FPS)}), 0, Span(0, len(frames), 0),
                       frames, np.arange(len(frames)) / FPS)
    TextOverlay(s, method=method)(clip)
    return clip.reason == "text"


WITH_TEXT = [Scene(1.5, "pan right", 1, text="Breaking news LIVE"),
             Scene(1.5, "static shot", 2, text="Episode 12 final", extras={"text_style": "subtitle"}),
             Scene(1.5, "handheld shot", 3, text="SALE update", extras={"text_style": "title"}),
             Scene(1.5, "zoom in", 4, speed=0.1, text="weather sports score", extras={"text_style": "ticker"})]
WITHOUT = [Scene(1.5, "static shot", 5, extras={"windows": True}), Scene(1.5, "pan left", 6, extras={"windows": True}),
           Scene(1.5, "zoom out", 7, speed=0.1), Scene(1.5, "static shot", 8, blur=1.5, extras={"windows": True})]


@pytest.fixture(scope="module")
def frames():
    return [_frames(s) for s in WITH_TEXT], [_frames(s) for s in WITHOUT]


def test_mser_text_filter(frames):
    positives, negatives = frames
    assert [_rejected(f, "mser") for f in positives] == [True] * len(WITH_TEXT)
    assert [_rejected(f, "mser") for f in negatives] == [False] * len(WITHOUT)


def test_heuristic_is_worse_here(frames):
    positives, negatives = frames
    caught = sum(_rejected(f, "heuristic") for f in positives) - sum(_rejected(f, "heuristic") for f in negatives)
    assert caught < len(WITH_TEXT)
