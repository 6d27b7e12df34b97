"""The shapes world (docs/shapes-world.md): sample a scene, render its frames and sound, caption it.

A scene is one or two filled shapes over a solid background, each with a colour, shape, size and motion. Everything
is plain numpy, so a worker renders a 64x64x17 clip in a few milliseconds; a scene is a pure function of its random
generator, so clip ``i`` of a data set depends only on ``(seed, i)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

# The palette: RGB and the tone (Hz) an object of that colour hums.
COLOURS: dict[str, tuple[tuple[int, int, int], float]] = {
    "red": ((230, 25, 25), 220.0),
    "green": ((30, 200, 30), 262.0),
    "blue": ((40, 70, 240), 294.0),
    "yellow": ((240, 220, 20), 330.0),
    "cyan": ((20, 220, 230), 392.0),
    "magenta": ((220, 30, 220), 440.0),
    "white": ((245, 245, 245), 494.0),
    "orange": ((250, 140, 20), 523.0),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {"black": (0, 0, 0), "gray": (96, 96, 96)}
SHAPES = ("circle", "square", "triangle")
SIZES: dict[str, float] = {"small": 1 / 5, "large": 1 / 3}  # bounding-box side over canvas side
MOTIONS = ("left", "right", "up", "down", "bouncing", "still")
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}

SAMPLE_RATE = 16000
AMPLITUDE = {"small": 0.12, "large": 0.24}  # hum loudness by size; two large hums plus a click stay below 1
CLICK_SECONDS = 0.02
CLICK_AMPLITUDE = 0.35
MIN_GAP_PX = 3.0  # bounding boxes of two objects stay this far apart (the spec asks >= 2; 1 px spare for the codec)


@dataclass
class ShapeObject:
    colour: str
    shape: str
    size: str
    motion: str
    x: float  # centre at frame 0, pixels from the left edge
    y: float  # centre at frame 0, pixels from the top edge
    period: int = 0  # bouncing: frames between two contacts with the bottom edge
    phase: int = 0  # bouncing: the first frame >= 0 at which it touches the bottom (a contact)
    height: float = 0.0  # bouncing: how high (px) the bottom edge of the object rises between contacts

    def side(self, canvas: int) -> float:
        return SIZES[self.size] * canvas


@dataclass
class Scene:
    canvas: int  # square side in pixels
    frames: int
    fps: float
    background: str
    objects: list[ShapeObject] = field(default_factory=list)

    def to_labels(self) -> dict:
        """JSON-able form (the manifest's ``labels``); ``Scene.from_labels`` reads it back."""
        data = asdict(self)
        data["contacts"] = [contact_frames(o, self.frames, self.canvas) for o in self.objects]
        return data

    @classmethod
    def from_labels(cls, labels: dict) -> Scene:
        objects = [ShapeObject(**o) for o in labels["objects"]]
        return cls(int(labels["canvas"]), int(labels["frames"]), float(labels["fps"]), labels["background"], objects)


# --- motion --------------------------------------------------------------------------------------------------------

def centres(obj: ShapeObject, frames: int, canvas: int) -> np.ndarray:
    """(frames, 2) float centre (x, y) at every frame."""
    t = np.arange(frames, dtype=np.float64)
    xy = np.empty((frames, 2))
    xy[:, 0], xy[:, 1] = obj.x, obj.y
    if obj.motion in DIRECTIONS:
        dx, dy = DIRECTIONS[obj.motion]
        step = (canvas / 2) / max(frames - 1, 1)  # the centre travels half the canvas over the clip
        xy[:, 0] += dx * step * t
        xy[:, 1] += dy * step * t
    elif obj.motion == "bouncing":
        floor = canvas - obj.side(canvas) / 2  # centre y when the bottom edge touches the bottom of the canvas
        u = np.mod(t - obj.phase, obj.period) / obj.period
        xy[:, 1] = floor - obj.height * 4 * u * (1 - u)  # one parabola per bounce, contacts at u = 0
    return xy


def contact_frames(obj: ShapeObject, frames: int, canvas: int) -> list[int]:
    """Frames in which a bouncing object touches the bottom edge (empty for the other motions)."""
    if obj.motion != "bouncing":
        return []
    return [int(f) for f in range(obj.phase % obj.period, frames, obj.period)]


def boxes(obj: ShapeObject, frames: int, canvas: int) -> np.ndarray:
    """(frames, 4) bounding boxes (x0, y0, x1, y1) in pixels."""
    c = centres(obj, frames, canvas)
    h = obj.side(canvas) / 2
    return np.concatenate([c - h, c + h], axis=1)


def boxes_apart(a: np.ndarray, b: np.ndarray, gap: float = MIN_GAP_PX) -> bool:
    """True when the boxes of every frame are at least ``gap`` px apart (along x or along y)."""
    gx = np.maximum(a[:, 0] - b[:, 2], b[:, 0] - a[:, 2])
    gy = np.maximum(a[:, 1] - b[:, 3], b[:, 1] - a[:, 3])
    return bool(np.all(np.maximum(gx, gy) >= gap))


# --- sampling ------------------------------------------------------------------------------------------------------

def _rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _place(rng: np.random.Generator, colour: str, shape: str, size: str, motion: str, frames: int,
           canvas: int) -> ShapeObject:
    """Random start position (and bounce) for an object so that it stays fully inside the canvas at every frame."""
    side = SIZES[size] * canvas
    lo, hi = side / 2, canvas - side / 2  # the centre's range along each axis
    obj = ShapeObject(colour, shape, size, motion, float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)))
    if motion in DIRECTIONS:
        dx, dy = DIRECTIONS[motion]
        travel = canvas / 2
        start = float(rng.uniform(lo, hi - travel))  # the far end of the track stays inside too
        if dx:
            obj.x = start if dx > 0 else canvas - start
        else:
            obj.y = start if dy > 0 else canvas - start
    elif motion == "bouncing":
        obj.period = int(rng.integers(min(6, frames - 1), min(10, frames - 1) + 1))
        # first contact with a fall before it and a rise after it inside the clip
        obj.phase = int(rng.integers(2, max(2, min(obj.period + 1, frames - 3)) + 1))
        top = min(canvas / 2, canvas - side - 1)  # the object's top stays inside at the apex
        obj.height = float(rng.uniform(canvas / 4, top))
        obj.y = float(centres(obj, 1, canvas)[0, 1])
    return obj


def shape_probabilities(weights: str | dict[str, float] | None) -> list[float] | None:
    """Chances of each of ``SHAPES`` from relative weights ("triangle=2" or {"triangle": 2}; a shape left out weighs
    1); None when they are all equal, so the scenes stay those of the uniform draw."""
    if not weights:
        return None
    if isinstance(weights, str):
        pairs = [item.partition("=") for item in weights.split(",")]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError(f"shape weights are name=number pairs (e.g. triangle=2), got {weights!r}")
        weights = {name.strip(): value for name, _, value in pairs}
    unknown = sorted(set(weights) - set(SHAPES))
    if unknown:
        raise ValueError(f"unknown shape {unknown[0]!r} in shape weights; known: {', '.join(SHAPES)}")
    bad = ValueError(f"shape weights must be numbers >= 0, not all 0 (e.g. triangle=2), got {weights}")
    try:
        w = [float(weights.get(name, 1.0)) for name in SHAPES]
    except ValueError:
        raise bad from None
    total = sum(w)
    if not all(v >= 0 for v in w) or total <= 0:  # NaN fails too
        raise bad
    return None if len(set(w)) == 1 else [v / total for v in w]


def _random_object(rng: np.random.Generator, frames: int, canvas: int, exclude_colours=(),
                   shape_p: list[float] | None = None) -> ShapeObject:
    colours = [c for c in COLOURS if c not in exclude_colours]
    motions = MOTIONS if frames >= 5 else ("still",)
    # colour, shape, size, motion: the order of the draws is part of what a seed means (data sets, test prompts)
    colour = str(rng.choice(colours))
    shape = str(rng.choice(SHAPES) if shape_p is None else rng.choice(SHAPES, p=shape_p))
    return _place(rng, colour, shape, str(rng.choice(list(SIZES))), str(rng.choice(motions)), frames, canvas)


def sample_scene(rng=None, canvas: int = 64, frames: int = 17, fps: float = 8.0, two_object_fraction: float = 0.5,
                 backgrounds=tuple(BACKGROUNDS), max_tries: int = 200, shape_weights=None) -> Scene:
    """A random scene: ``rng`` is a numpy Generator or a seed (int or sequence of ints, e.g. ``(seed, index)``).

    Two objects differ in colour and their boxes stay apart in every frame (rejection sampling; an impossible
    combination of motions is redrawn). ``shape_weights`` (see ``shape_probabilities``) makes some shapes commoner.
    """
    rng = _rng(rng)
    shape_p = shape_probabilities(shape_weights)
    if canvas < 16:
        raise ValueError(f"canvas must be at least 16 px, got {canvas}")
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    background = str(rng.choice(list(backgrounds)))
    first = _random_object(rng, frames, canvas, shape_p=shape_p)
    objects = [first]
    if rng.random() < two_object_fraction:
        first_boxes = boxes(first, frames, canvas)
        for _ in range(max_tries):
            other = _random_object(rng, frames, canvas, exclude_colours=(first.colour,), shape_p=shape_p)
            if boxes_apart(first_boxes, boxes(other, frames, canvas)):
                objects.append(other)
                break
        else:  # no placement found for any redraw: keep the one object (practically never at 64 px)
            pass
    return Scene(canvas, frames, float(fps), background, objects)


# --- rendering -----------------------------------------------------------------------------------------------------

SUPERSAMPLE = 4  # sub-pixel samples per axis for anti-aliased edges


def _coverage(shape: str, cx: float, cy: float, side: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Fraction of each pixel covered by the shape; xs, ys are sub-pixel sample coordinates (H*s, W*s grids)."""
    half = side / 2
    if shape == "circle":
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= half**2
    elif shape == "square":
        inside = (np.abs(xs - cx) <= half) & (np.abs(ys - cy) <= half)
    elif shape == "triangle":  # isosceles, apex up, base = height = side
        top = cy - half
        inside = (ys >= top) & (ys <= cy + half) & (np.abs(xs - cx) <= (ys - top) / 2)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    s = SUPERSAMPLE
    h, w = inside.shape[0] // s, inside.shape[1] // s
    return inside.reshape(h, s, w, s).mean(axis=(1, 3))


def render(scene: Scene) -> np.ndarray:
    """uint8 (T, H, W, 3) frames of ``scene``."""
    n, t, s = scene.canvas, scene.frames, SUPERSAMPLE
    out = np.empty((t, n, n, 3), dtype=np.float32)
    out[:] = np.asarray(BACKGROUNDS[scene.background], dtype=np.float32)
    for obj in scene.objects:
        colour = np.asarray(COLOURS[obj.colour][0], dtype=np.float32)
        side = obj.side(n)
        for f, (cx, cy) in enumerate(centres(obj, t, n)):
            # only the pixels under the object's box (plus one for the anti-aliased rim)
            x0, x1 = max(int(np.floor(cx - side / 2)) - 1, 0), min(int(np.ceil(cx + side / 2)) + 1, n)
            y0, y1 = max(int(np.floor(cy - side / 2)) - 1, 0), min(int(np.ceil(cy + side / 2)) + 1, n)
            if x1 <= x0 or y1 <= y0:
                continue
            sub = (np.arange(s) + 0.5) / s
            xs = (np.arange(x0, x1)[:, None] + sub[None, :]).reshape(-1)
            ys = (np.arange(y0, y1)[:, None] + sub[None, :]).reshape(-1)
            a = _coverage(obj.shape, cx, cy, side, xs[None, :], ys[:, None])[..., None]
            region = out[f, y0:y1, x0:x1]
            out[f, y0:y1, x0:x1] = region * (1 - a) + colour * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render_audio(scene: Scene, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """float32 (samples,) mono sound of ``scene``: a hum per object at its colour's tone (louder when large) and a
    ~20 ms broadband click at each frame in which a bouncing object touches the bottom edge."""
    total = int(round(scene.frames / scene.fps * sample_rate))
    t = np.arange(total) / sample_rate
    wave = np.zeros(total, dtype=np.float64)
    ramp = min(int(0.01 * sample_rate), total // 2)  # 10 ms fade in and out: no edge clicks from the hum itself
    envelope = np.ones(total)
    if ramp:
        envelope[:ramp] = np.linspace(0, 1, ramp)
        envelope[-ramp:] = np.linspace(1, 0, ramp)
    rng = np.random.default_rng(seed)
    click_len = int(CLICK_SECONDS * sample_rate)
    click_env = np.exp(-np.arange(click_len) / (click_len / 4))
    for obj in scene.objects:
        wave += AMPLITUDE[obj.size] * envelope * np.sin(2 * np.pi * COLOURS[obj.colour][1] * t)
        for f in contact_frames(obj, scene.frames, scene.canvas):
            start = int(round(f / scene.fps * sample_rate))
            part = wave[start:start + click_len]
            part += CLICK_AMPLITUDE * click_env[:len(part)] * rng.uniform(-1, 1, len(part))
    return np.clip(wave, -1, 1).astype(np.float32)


# --- captions ------------------------------------------------------------------------------------------------------

def motion_phrase(motion: str) -> str:
    if motion in DIRECTIONS:
        return f"moving {motion}"
    return {"bouncing": "bouncing", "still": "standing still"}[motion]


def describe(obj, with_size: bool = True) -> str:
    """``a {size} {colour} {shape} {motion phrase}`` for a ShapeObject or a dict with those keys (size optional)."""
    get = obj.get if isinstance(obj, dict) else lambda k: getattr(obj, k)
    size = get("size") if with_size else None
    words = ["a"] + ([size] if size else []) + [get("colour"), get("shape"), motion_phrase(get("motion"))]
    return " ".join(words)


def caption(scene: Scene, with_size: bool = True, with_background: bool = True) -> str:
    """The caption of ``scene`` in the grammar of the spec (size and background may be left out)."""
    text = " and ".join(describe(o, with_size) for o in scene.objects)
    if with_background:
        text += f" on a {scene.background} background"
    return text


def caption_variants(scene: Scene) -> dict[str, str]:
    """Every form of the caption the grammar allows (for training with dropped size / background)."""
    return {"full": caption(scene), "no_size": caption(scene, with_size=False),
            "no_background": caption(scene, with_background=False),
            "minimal": caption(scene, with_size=False, with_background=False)}
