"""Text/overlay likelihood without OCR: the fraction of the frame covered by persistent text-like boxes.

Rendered text (subtitles, captions, watermarks, tickers) is a row of thin high-contrast strokes that stays put while
the scene moves. Per sampled frame: strong morphological gradient, closed horizontally so the letters of a word
join, kept where a component is a wide, short, densely stroked box. A box must persist in most sampled frames to
count. An OCR backend can replace this by registering another clip stage that sets ``scores["text"]``.
"""

from __future__ import annotations

import numpy as np

from vgen.curate.stages import ClipContext


def text_boxes(grey: np.ndarray, min_contrast: float = 90.0) -> np.ndarray:
    """Mask (H, W) bool of text-like boxes in one grey uint8 frame."""
    import cv2

    h, w = grey.shape
    grad = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    strong = (grad >= min_contrast).astype(np.uint8)
    joined = cv2.morphologyEx(strong, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, w // 25), 1)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    mask = np.zeros((h, w), bool)
    for x, y, bw, bh, _area in stats[1:count]:
        if not (0.03 * h <= bh <= 0.25 * h and bw >= 2.5 * bh and bw >= 0.08 * w):
            continue
        density = strong[y:y + bh, x:x + bw].mean()
        if density >= 0.3:
            mask[y:y + bh, x:x + bw] = True
    return mask


class TextOverlay:
    """Score ``text`` (area fraction of persistent text boxes); reject ``text`` clips above ``max_text``."""

    def __init__(self, settings, samples: int = 6, persist: float = 0.66):
        self.settings = settings
        self.samples = samples
        self.persist = persist

    def __call__(self, clip: ClipContext) -> None:
        from vgen_plugins.curation.quality import grey

        idx = np.linspace(0, len(clip.frames) - 1, min(self.samples, len(clip.frames))).round().astype(int)
        masks = np.stack([text_boxes(g.astype(np.uint8)) for g in grey(clip.frames[idx])])
        persistent = masks.mean(0) >= self.persist
        score = float(persistent.mean())
        clip.scores["text"] = round(score, 5)
        if score > self.settings.max_text:
            clip.reject("text")
