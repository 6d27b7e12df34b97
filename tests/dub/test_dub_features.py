"""The dub model's pixel features: a thumbnail (where things are) and a colour histogram (which colours are shown,
wherever they are), resampled to the latent rate so that each latent frame takes the video frame shown then."""

import numpy as np
import pytest
import torch
from vgen_plugins.audio.features import PooledPixels, resample
from vgen_plugins.shapes.world import COLOURS

from vgen.errors import UserError


def _frame(colour, corner: bool) -> np.ndarray:
    frame = np.zeros((64, 64, 3), np.uint8)  # black background
    rows = slice(0, 12) if corner else slice(52, 64)
    frame[rows, :12] = COLOURS[colour][0]
    return frame


def test_histogram_names_the_colour_wherever_it_is():
    f = PooledPixels(size=16, histogram=4)
    assert f.dim == 3 * 16 * 16 + 64
    feats = f(np.stack([_frame("red", True), _frame("red", False), _frame("orange", True)]))
    hist = feats[:, 768:]
    assert torch.equal(hist[0], hist[1])  # the same colour at the top or the bottom: the same histogram
    assert not torch.equal(feats[0, :768], feats[1, :768])  # the thumbnail tells them apart
    assert not torch.equal(hist[0], hist[2])  # red and orange are different bins
    share = 144 / 4096
    assert torch.allclose(hist[0].sort().values[-2:], torch.tensor([share ** 0.5, (1 - share) ** 0.5]))
    palette = {tuple(PooledPixels(size=1, histogram=4)(np.full((1, 4, 4, 3), rgb, np.uint8))[0, 3:].nonzero()[0])
               for rgb, _ in COLOURS.values()}
    assert len(palette) == len(COLOURS)  # every palette colour has its own bin


def test_no_histogram_is_the_thumbnail_alone_and_bad_options_are_user_errors():
    frames = np.stack([_frame("blue", True)] * 2)
    assert PooledPixels(size=8)(frames).shape == (2, 192)
    with pytest.raises(UserError):
        PooledPixels(size=0)
    with pytest.raises(UserError):
        PooledPixels(histogram=-1)


def test_resample_takes_the_frame_shown_at_each_latent_frame():
    feats = torch.arange(17.0)[:, None]
    out = resample(feats, 8.0, 53, 25.0)
    assert out.shape == (53, 1) and out[0, 0] == 0 and out[3, 0] == 1 and out[-1, 0] == 16
