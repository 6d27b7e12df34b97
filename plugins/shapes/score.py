"""Score a video (and its sound) against a shapes-world prompt, exactly as docs/shapes-world.md says.

Pixels far from the background colour are foreground; 8-connected components of it are objects. An object's colour
is the palette colour nearest its median RGB, its shape comes from its fill ratio in its bounding box, its size from
the box side over the canvas side, its motion from its centroid track. Components are linked across frames by colour
(two objects of a scene always differ in colour). Pure numpy: no scipy or OpenCV needed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from vgen_plugins.shapes.prompts import Prompt, PromptObject, parse_prompt
from vgen_plugins.shapes.world import BACKGROUNDS, COLOURS, SIZES

FOREGROUND_DISTANCE = 64.0  # RGB distance from the background beyond which a pixel is foreground
# Fill ratio thresholds: triangle ~0.5 | circle ~0.785 | square ~1. Measured on coded 64 px clips (the sub-pixel box
# of a small triangle comes out a little short near its apex and corners): triangles 0.52-0.67, circles 0.77-0.82,
# squares 0.94-1.0.
FILL_TRIANGLE_CIRCLE = 0.70
FILL_CIRCLE_SQUARE = 0.88
SIZE_THRESHOLD = float(np.sqrt(SIZES["small"] * SIZES["large"]))  # box side / canvas: small 0.2 | large 0.333
STILL_FRACTION = 1 / 20  # displacement (and bounce swing) under this fraction of the canvas is no motion
_PALETTE = np.array([rgb for rgb, _ in COLOURS.values()], dtype=np.float32)
_NAMES = list(COLOURS)


# --- connected components ------------------------------------------------------------------------------------------

def label_components(mask: np.ndarray) -> np.ndarray:
    """8-connected components of a boolean (..., H, W) mask, per 2-D slice: int64 labels, 0 = background.

    Works on the foreground pixels only: each starts labelled with its own index; taking the largest label among its
    neighbours spreads each component's largest index over it, and pointer jumping (a label names a pixel of the
    same component, whose label is at least as large) makes that converge in a few rounds.
    """
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape[-2:]
    planes = mask.reshape(-1, h, w)
    n = int(planes.sum())
    out = np.zeros(planes.shape, dtype=np.int64)
    if not n:
        return out.reshape(mask.shape)
    index = np.full((planes.shape[0], h + 2, w + 2), -1, dtype=np.int64)  # compact index of each pixel, -1 = none
    index[:, 1:-1, 1:-1][planes] = np.arange(n)
    neighbours = [index[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w][planes]
                  for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    own = np.arange(n)
    neighbours = [np.where(nb < 0, own, nb) for nb in neighbours]
    labels = own.copy()
    while True:
        spread = labels.copy()
        for nb in neighbours:
            np.maximum(spread, labels[nb], out=spread)
        while True:  # pointer jumping
            jumped = spread[spread]
            if np.array_equal(jumped, spread):
                break
            spread = jumped
        if np.array_equal(spread, labels):
            break
        labels = spread
    out[planes] = labels + 1
    return out.reshape(mask.shape)


# --- per-frame objects and tracks ----------------------------------------------------------------------------------

@dataclass
class Component:
    frame: int
    area: float  # coverage-weighted pixels
    extent: tuple[float, float]  # sub-pixel width and height of its bounding box
    centroid: tuple[float, float]  # x, y
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive pixels of its mask
    rgb: tuple[float, float, float]  # median colour
    colour: str  # nearest palette colour

    @property
    def fill(self) -> float:
        return self.area / max(self.extent[0] * self.extent[1], 1e-6)

    @property
    def side(self) -> float:
        return max(self.extent)


@dataclass
class Track:
    colour: str
    components: list[Component] = field(default_factory=list)
    shape: str = ""
    size: str = ""
    motion: str = ""
    contacts: list[int] = field(default_factory=list)  # frames in which a bouncing object touches the bottom

    def summary(self) -> dict:
        return {"colour": self.colour, "shape": self.shape, "size": self.size, "motion": self.motion,
                "frames": len(self.components), "contacts": self.contacts,
                "fill": round(float(np.median([c.fill for c in self.components])), 3)}


def nearest_colour(rgb) -> str:
    return _NAMES[int(np.argmin(((_PALETTE - np.asarray(rgb, dtype=np.float32)) ** 2).sum(-1)))]


def estimate_background(frames: np.ndarray) -> np.ndarray:
    """The background RGB: the per-channel median over every pixel (objects cover well under half the canvas)."""
    return np.median(frames.reshape(-1, 3), axis=0).astype(np.float32)


def find_components(frames: np.ndarray, background: np.ndarray, min_area: int) -> list[list[Component]]:
    """Foreground components of every frame with at least ``min_area`` pixels.

    The thresholded mask only finds the objects; their measures come from each pixel's coverage: where it lies
    between the background and the object's median colour. Coverage survives the codec (chroma is stored at half
    resolution, so a hard mask grows by a pixel on some sides): the area is its sum, the box's width (height) is the
    sum over columns (rows) of the largest coverage in that column (row), and the centroid is its mean.
    """
    f32 = frames.astype(np.float32)
    mask = np.sqrt(((f32 - background) ** 2).sum(-1)) > FOREGROUND_DISTANCE
    labels = label_components(mask)
    t, h, w = mask.shape
    out: list[list[Component]] = [[] for _ in range(t)]
    flat = labels.reshape(-1)
    idx = np.flatnonzero(flat)
    if not len(idx):
        return out
    order = idx[np.argsort(flat[idx], kind="stable")]
    _, starts = np.unique(flat[order], return_index=True)
    pixels = f32.reshape(-1, 3)
    for group in np.split(order, starts[1:]):
        if len(group) < min_area:
            continue
        label = flat[group[0]]
        f = int(group[0]) // (h * w)
        ys, xs = np.divmod(group - f * h * w, w)
        rgb = np.median(pixels[group], axis=0)
        # coverage in the box grown by 2 px, leaving out other objects and the pixel ring around them
        y0, y1 = max(int(ys.min()) - 2, 0), min(int(ys.max()) + 3, h)
        x0, x1 = max(int(xs.min()) - 2, 0), min(int(xs.max()) + 3, w)
        axis = rgb - background
        cover = np.clip((f32[f, y0:y1, x0:x1] - background) @ axis / max(float(axis @ axis), 1e-6), 0.0, 1.0)
        own = labels[f, y0:y1, x0:x1]
        other = np.pad((own != 0) & (own != label), 1)
        near_other = np.zeros_like(own, dtype=bool)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                near_other |= other[dy:dy + own.shape[0], dx:dx + own.shape[1]]
        cover[near_other] = 0.0
        cover[cover < 0.1] = 0.0  # codec noise in the background
        total = float(cover.sum())
        width, height = float(cover.max(axis=0).sum()), float(cover.max(axis=1).sum())
        gy, gx = np.mgrid[y0:y1, x0:x1]
        out[f].append(Component(f, total, (width, height),
                                (float((gx * cover).sum() / total), float((gy * cover).sum() / total)),
                                (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())),
                                tuple(float(v) for v in rgb), nearest_colour(rgb)))
    return out


def classify_shape(fill: float) -> str:
    return "triangle" if fill < FILL_TRIANGLE_CIRCLE else "circle" if fill < FILL_CIRCLE_SQUARE else "square"


def classify_size(side_fraction: float) -> str:
    return "small" if side_fraction < SIZE_THRESHOLD else "large"


def count_reversals(values: np.ndarray, swing: float) -> int:
    """Reversals of direction in ``values`` where the move on each side is at least ``swing`` (hysteresis)."""
    reversals, direction = 0, 0
    lo = hi = ext = float(values[0])
    for v in map(float, values[1:]):
        if direction == 0:
            lo, hi = min(lo, v), max(hi, v)
            if v - lo >= swing:
                direction, ext = 1, v
            elif hi - v >= swing:
                direction, ext = -1, v
        elif (v - ext) * direction >= 0:
            ext = v
        elif abs(v - ext) >= swing:
            direction, ext, reversals = -direction, v, reversals + 1
    return reversals


def classify_motion(cx: np.ndarray, cy: np.ndarray, canvas: float) -> str:
    """``bouncing``: a reversal of vertical velocity; ``still``: displacement under 1/20 canvas; else the dominant
    axis and sign of the first-to-last displacement."""
    thr = canvas * STILL_FRACTION
    if len(cy) >= 3 and count_reversals(cy, thr) >= 1:
        return "bouncing"
    dx, dy = float(cx[-1] - cx[0]), float(cy[-1] - cy[0])
    if max(abs(dx), abs(dy)) < thr:
        return "still"
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def contacts_of(track: Track, height: int, canvas: float) -> list[int]:
    """Frames where the track's box touches the bottom edge at a lowest point of its path."""
    comps = track.components
    cy = [c.centroid[1] for c in comps]
    out = []
    for i, c in enumerate(comps):
        touching = c.box[3] >= height - 1 - canvas / 32
        lowest = (i == 0 or cy[i] >= cy[i - 1]) and (i == len(comps) - 1 or cy[i] >= cy[i + 1])
        if touching and lowest:
            out.append(c.frame)
    return out


def build_tracks(components: list[list[Component]], height: int, width: int) -> list[Track]:
    """Objects present in at least half the frames; the k-th largest component of a colour in each frame is the k-th
    object of that colour. Sorted by mean area, largest first."""
    t = len(components)
    canvas = (height + width) / 2
    groups: dict[tuple[str, int], list[Component]] = {}
    for comps in components:
        by_colour: dict[str, list[Component]] = {}
        for c in comps:
            by_colour.setdefault(c.colour, []).append(c)
        for colour, cs in by_colour.items():
            for k, c in enumerate(sorted(cs, key=lambda c: -c.area)):
                groups.setdefault((colour, k), []).append(c)
    tracks = []
    for (colour, _), comps in groups.items():
        if len(comps) * 2 < t:
            continue
        track = Track(colour, comps)
        track.shape = classify_shape(float(np.median([c.fill for c in comps])))
        track.size = classify_size(float(np.median([c.side for c in comps])) / canvas)
        cx = np.array([c.centroid[0] for c in comps])
        cy = np.array([c.centroid[1] for c in comps])
        track.motion = classify_motion(cx, cy, canvas)
        if track.motion == "bouncing":
            track.contacts = contacts_of(track, height, canvas)
        tracks.append(track)
    tracks.sort(key=lambda tr: -np.mean([c.area for c in tr.components]))
    return tracks


# --- matching a prompt ---------------------------------------------------------------------------------------------

def _agreement(named: PromptObject, track: Track) -> dict[str, bool]:
    return {"colour": track.colour == named.colour, "shape": track.shape == named.shape,
            "size": named.size is None or track.size == named.size, "motion": track.motion == named.motion}


def match(named: list[PromptObject], tracks: list[Track]) -> list[Track | None]:
    """The pairing of named objects with found tracks that agrees most (colour first, then shape, size, motion)."""
    weights = {"colour": 8, "shape": 4, "size": 1, "motion": 2}
    padded: list[Track | None] = list(tracks) + [None] * len(named)
    best, best_score = [None] * len(named), -1
    for perm in itertools.permutations(range(len(padded)), len(named)):
        score = 0
        for obj, j in zip(named, perm, strict=True):
            if padded[j] is not None:
                score += 1 + sum(weights[k] for k, ok in _agreement(obj, padded[j]).items() if ok)
        if score > best_score:
            best, best_score = [padded[j] for j in perm], score
    return best


def score_video(frames, prompt: str | Prompt, audio: np.ndarray | None = None, sample_rate: int | None = None,
                fps: float = 8.0) -> dict:
    """Score uint8 (T, H, W, 3) ``frames`` against ``prompt``.

    Returns per-attribute booleans for the whole prompt (``colour``, ``shape``, ``size``, ``motion``: every named
    object found with that attribute right), ``all_correct`` (every named object fully right and no unnamed object),
    the matches and the found objects; with ``audio`` (float (samples,) or (channels, samples)) also ``sound``.
    """
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3), got {frames.shape}")
    parsed = prompt if isinstance(prompt, Prompt) else parse_prompt(prompt)
    t, h, w, _ = frames.shape
    canvas = (h + w) / 2
    background = estimate_background(frames)
    min_area = max(4, int(0.125 * (SIZES["small"] * canvas) ** 2))  # a quarter of the smallest object's area
    tracks = build_tracks(find_components(frames, background, min_area), h, w)
    matched = match(parsed.objects, tracks)
    result: dict = {"prompt": prompt if isinstance(prompt, str) else None, "n_objects": len(parsed.objects)}
    matches = []
    for obj, tr in zip(parsed.objects, matched, strict=True):
        ok = _agreement(obj, tr) if tr is not None else dict.fromkeys(("colour", "shape", "size", "motion"), False)
        matches.append({"named": vars(obj).copy(), "found": tr.summary() if tr is not None else None, **ok})
    for key in ("colour", "shape", "size", "motion"):
        result[key] = all(m[key] for m in matches)
    used = {id(tr) for tr in matched if tr is not None}
    result["missing_objects"] = sum(tr is None for tr in matched)
    result["extra_objects"] = sum(id(tr) not in used for tr in tracks)
    result["all_correct"] = all(result[k] for k in ("colour", "shape", "size", "motion")) \
        and result["extra_objects"] == 0
    bg_name = min(BACKGROUNDS, key=lambda b: float(((np.asarray(BACKGROUNDS[b]) - background) ** 2).sum()))
    result["background"] = bg_name
    result["background_ok"] = parsed.background is None or parsed.background == bg_name
    result["matches"] = matches
    result["found"] = [tr.summary() for tr in tracks]
    if audio is not None:
        named_colours = [o.colour for o in parsed.objects]
        contacts = sorted({f for tr in tracks for f in tr.contacts})
        result["sound"] = score_sound(audio, sample_rate or 16000, named_colours, contacts, fps)
    return result


# --- sound ---------------------------------------------------------------------------------------------------------

CLICK_HIGHPASS_HZ = 1500.0  # the hums are all below 530 Hz: what is left above this is click
CLICK_RMS = 0.02  # 5 ms RMS of the high-passed sound above which a click is heard


def tone_energies(wave: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Energy of the sound within +-1.5% of each palette colour's tone (adjacent tones are >= 6% apart)."""
    spec = np.abs(np.fft.rfft(wave * np.hanning(len(wave)))) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1 / sample_rate)
    return {name: float(spec[(freqs > tone * 0.985) & (freqs < tone * 1.015)].sum())
            for name, (_, tone) in COLOURS.items()}


def find_clicks(wave: np.ndarray, sample_rate: int) -> list[float]:
    """Onset times (s) of broadband clicks: runs of high 5 ms RMS in the high-passed sound, 30 ms apart at least."""
    spec = np.fft.rfft(wave)
    spec[np.fft.rfftfreq(len(wave), 1 / sample_rate) < CLICK_HIGHPASS_HZ] = 0
    high = np.fft.irfft(spec, n=len(wave))
    hop = max(1, int(0.005 * sample_rate))
    n = len(high) // hop
    rms = np.sqrt((high[: n * hop].reshape(n, hop) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > CLICK_RMS)
    onsets: list[float] = []
    last = -1e9
    for i in loud:
        t = i * hop / sample_rate
        if t - last > 0.03:
            onsets.append(t)
        last = t
    return onsets


def score_sound(audio: np.ndarray, sample_rate: int, colours: list[str], contacts: list[int], fps: float) -> dict:
    """``pitch``: the loudest tones are exactly the named objects' tones; ``clicks``: every click lands within one
    video frame of a contact and every contact has a click."""
    wave = np.asarray(audio, dtype=np.float64)
    if wave.ndim == 2:
        wave = wave.mean(axis=0)
    energies = tone_energies(wave, sample_rate)
    loudest = sorted(energies, key=lambda c: -energies[c])[: len(colours)]
    clicks = find_clicks(wave, sample_rate)
    frame = 1.0 / fps
    contact_times = [f / fps for f in contacts]
    stray = [c for c in clicks if not any(abs(c - ct) <= frame for ct in contact_times)]
    silent = [f for f, ct in zip(contacts, contact_times, strict=True) if not any(abs(c - ct) <= frame for c in clicks)]
    return {"pitch": sorted(loudest) == sorted(colours), "tones": loudest,
            "clicks": not stray and not silent, "click_times": [round(float(c), 3) for c in clicks],
            "contacts": contacts, "stray_clicks": len(stray), "silent_contacts": len(silent)}
