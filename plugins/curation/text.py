"""Text/overlay likelihood without OCR: the fraction of the frame covered by persistent text boxes.

Rendered text (subtitles, captions, titles, tickers) is a row of character-sized shapes that stays put while the
scene moves. Two ways to find the boxes in a sampled frame: ``mser`` (the default: MSER regions shaped like
characters, upright and partly filled, chained into lines of three or more with alike heights; rows of alike, evenly
spaced solid boxes, such as windows, are not text) and ``heuristic`` (strong morphological gradient closed
horizontally into wide, short, dense boxes). A box must persist in most sampled frames to count, or, for a scrolling
ticker, its rows must. benchmarks/curate_text.py measures both. An OCR backend can replace this by registering
another clip stage that sets ``scores["text"]``.
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


def mser_text_boxes(grey: np.ndarray) -> np.ndarray:
    """Mask (H, W) bool of text lines in one grey uint8 frame: MSER regions shaped like characters (small, upright,
    partly filled), chained into lines of at least three with alike heights, aligned and closely spaced."""
    import cv2

    h, w = grey.shape
    mser = cv2.MSER_create(5, 4, max(20, h * w // 60))
    regions, boxes = mser.detectRegions(grey)
    chars = []
    for pts, (x, y, bw, bh) in zip(regions, boxes, strict=True):
        if not (0.025 * h <= bh <= 0.2 * h and 0.08 * bh <= bw <= 1.6 * bh):
            continue
        if not 0.15 <= len(pts) / float(bw * bh) <= 0.75:  # strokes, not solid blocks (windows, tiles)
            continue
        chars.append((x, y, bw, bh))
    chars = sorted(set(chars))
    mask = np.zeros((h, w), bool)
    used = [False] * len(chars)
    for i, (x, y, bw, bh) in enumerate(chars):
        if used[i]:
            continue
        line, right, cy = [i], x + bw, y + bh / 2
        for j in range(i + 1, len(chars)):
            x2, y2, bw2, bh2 = chars[j]
            if x2 > right + 1.2 * bh:
                break
            if x2 >= right - 0.3 * bh and abs(y2 + bh2 / 2 - cy) < 0.4 * bh and 0.6 < bh2 / bh < 1.6:
                line.append(j)
                right = max(right, x2 + bw2)
        if len(line) >= 3 and not _regular([chars[k] for k in line]):
            xs = [chars[k] for k in line]
            x0, y0 = min(c[0] for c in xs), min(c[1] for c in xs)
            x1, y1 = max(c[0] + c[2] for c in xs), max(c[1] + c[3] for c in xs)
            mask[y0:y1, x0:x1] = True
            for k in line:
                used[k] = True
    return mask


def _regular(boxes: list) -> bool:
    """A row of alike boxes evenly spaced (windows, tiles, dots) rather than letters, whose widths and gaps vary."""
    widths = np.array([b[2] for b in boxes], np.float64)
    gaps = np.diff(np.array([b[0] for b in boxes], np.float64))
    alike = np.mean(np.abs(widths - np.median(widths)) <= 0.15 * np.median(widths))
    even = np.mean(np.abs(gaps - np.median(gaps)) <= 0.2 * max(np.median(gaps), 1.0))
    return bool(alike >= 0.75 and even >= 0.75)


TEXT_METHODS = {"heuristic": text_boxes, "mser": mser_text_boxes}


class TextOverlay:
    """Score ``text`` (area fraction of persistent text boxes); reject ``text`` clips above ``max_text``."""

    def __init__(self, settings, samples: int = 6, persist: float = 0.66, method: str | None = None):
        self.settings = settings
        self.samples = samples
        self.persist = persist
        self.boxes = TEXT_METHODS[method or settings.text_detector]

    def __call__(self, clip: ClipContext) -> None:
        from vgen_plugins.curation.quality import grey

        idx = np.linspace(0, len(clip.frames) - 1, min(self.samples, len(clip.frames))).round().astype(int)
        masks = np.stack([self.boxes(g.astype(np.uint8)) for g in grey(clip.frames[idx])])
        persistent = masks.mean(0) >= self.persist
        # a scrolling ticker's letters move along rows that stay: count rows holding text in most samples too
        rows = masks.mean(2)  # (samples, H): share of each row covered
        band = (rows > 0).mean(0) >= self.persist
        score = max(float(persistent.mean()), float(np.median(rows, 0)[band].sum() / masks.shape[1]))
        clip.scores["text"] = round(score, 5)
        if score > self.settings.max_text:
            clip.reject("text")
