"""Perceptual hash (DCT pHash, 64 bits) of a clip's middle frame, for near-duplicate removal across the dataset.

The hash is computed per clip in the workers; duplicates are resolved once, in input order, when the manifest is
assembled (``vgen.curate.run``): a clip within ``dedup_max_distance`` bits of an earlier kept clip is rejected.
"""

from __future__ import annotations

import numpy as np

from vgen.curate.stages import ClipContext


def phash(frame: np.ndarray) -> str:
    """64-bit pHash of an RGB uint8 frame as 16 hex digits."""
    import cv2
    from vgen_plugins.curation.quality import grey

    small = cv2.resize(grey(frame[None])[0], (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].ravel()
    bits = low > np.median(low[1:])  # the DC term would dominate the median
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


class PHash:
    def __init__(self, settings):
        self.settings = settings

    def __call__(self, clip: ClipContext) -> None:
        clip.labels["phash"] = phash(clip.frames[len(clip.frames) // 2])
