"""Edit pairs of the shapes world: the same scene (same seed) with one change, and the instruction that names it.

Kinds and the exact instruction forms (issue 30; ``parse_instruction`` reads them back):

- colour: ``make the {colour} {shape} {colour}``; shape: ``turn the {colour} {shape} into a {shape}``;
  size: ``make the {colour} {shape} {small|large}``
- motion: ``make the {colour} {shape} move {left|right|up|down}``, ``... bounce``, ``... stand still``
- background: ``change the background to {black|gray}``
- remove: ``remove the {colour} {shape}`` (scenes with two objects)
- add: ``add a {size} {colour} {shape} {moving left|...|bouncing|standing still}`` (scenes with one object)

A pair also says which objects the edit must leave where they were (``kept``: source index -> target index): the
other object always; for colour, shape and size edits the edited one too; for background edits every object.
Size edits leave bouncing objects alone (their floor moves with their size). Pair ``i`` of a seed depends only on
``(seed, i)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
from vgen_plugins.shapes.world import (
    BACKGROUNDS,
    COLOURS,
    DIRECTIONS,
    MOTIONS,
    SHAPES,
    SIZES,
    Scene,
    ShapeObject,
    _place,
    _random_object,
    boxes,
    boxes_apart,
    caption,
    centres,
    motion_phrase,
    sample_scene,
)

KINDS = ("colour", "shape", "size", "motion", "background", "remove", "add")
FORMS = ("make the {colour} {shape} {colour}", "turn the {colour} {shape} into a {shape}",
         "make the {colour} {shape} {small|large}", "make the {colour} {shape} move {left|right|up|down}",
         "make the {colour} {shape} bounce", "make the {colour} {shape} stand still",
         "change the background to {black|gray}", "remove the {colour} {shape}",
         "add a {size} {colour} {shape} {moving left|moving right|moving up|moving down|bouncing|standing still}")
_TAG = 0xED17  # pairs never repeat the scenes of `vgen datasets shapes` or random_prompts with the same seed


@dataclass
class EditPair:
    source: Scene
    target: Scene
    instruction: str
    kind: str
    kept: list[tuple[int, int]] = field(default_factory=list)  # (source object, target object) that stay put

    def captions(self) -> tuple[str, str]:
        return caption(self.source), caption(self.target)


def _the(obj: ShapeObject) -> str:
    return f"the {obj.colour} {obj.shape}"


def _fits(obj: ShapeObject, scene: Scene, others: list[ShapeObject]) -> bool:
    """Inside the canvas at every frame and apart from ``others``."""
    b = boxes(obj, scene.frames, scene.canvas)
    inside = bool(np.all(b >= -1e-6) and np.all(b <= scene.canvas + 1e-6))
    return inside and all(boxes_apart(b, boxes(o, scene.frames, scene.canvas)) for o in others)


def _swap(scene: Scene, i: int, obj: ShapeObject) -> Scene | None:
    objects = list(scene.objects)
    objects[i] = obj
    if not _fits(obj, scene, [o for j, o in enumerate(objects) if j != i]):
        return None
    return replace(scene, objects=objects)


def _all_kept(scene: Scene) -> list[tuple[int, int]]:
    return [(i, i) for i in range(len(scene.objects))]


def _colour(rng, scene, i):
    obj = scene.objects[i]
    taken = {o.colour for o in scene.objects}
    new = str(rng.choice([c for c in COLOURS if c not in taken]))
    return replace(scene, objects=[replace(o, colour=new) if j == i else o for j, o in enumerate(scene.objects)]), \
        f"make {_the(obj)} {new}", _all_kept(scene)


def _shape(rng, scene, i):
    obj = scene.objects[i]
    new = str(rng.choice([s for s in SHAPES if s != obj.shape]))
    return replace(scene, objects=[replace(o, shape=new) if j == i else o for j, o in enumerate(scene.objects)]), \
        f"turn {_the(obj)} into a {new}", _all_kept(scene)


def _size(rng, scene, i):
    obj = scene.objects[i]
    if obj.motion == "bouncing":
        return None
    new = "large" if obj.size == "small" else "small"
    target = _swap(scene, i, replace(obj, size=new))
    return target and (target, f"make {_the(obj)} {new}", _all_kept(scene))


def _moved(rng, scene: Scene, obj: ShapeObject, motion: str) -> ShapeObject:
    """``obj`` with ``motion``, starting where it was at frame 0 as far as the new motion allows."""
    x0, y0 = centres(obj, 1, scene.canvas)[0]
    new = _place(rng, obj.colour, obj.shape, obj.size, motion, scene.frames, scene.canvas)
    side = obj.side(scene.canvas)
    lo, hi = side / 2, scene.canvas - side / 2
    if motion in DIRECTIONS:
        dx, dy = DIRECTIONS[motion]
        travel = scene.canvas / 2
        if dx:  # along x: start where it was if the whole track fits, else the nearest start that does
            new.x = float(np.clip(x0, lo, hi - travel) if dx > 0 else np.clip(x0, lo + travel, hi))
            new.y = float(np.clip(y0, lo, hi))
        else:
            new.y = float(np.clip(y0, lo, hi - travel) if dy > 0 else np.clip(y0, lo + travel, hi))
            new.x = float(np.clip(x0, lo, hi))
    elif motion == "still":
        new.x, new.y = float(np.clip(x0, lo, hi)), float(np.clip(y0, lo, hi))
    else:  # bouncing: same column, its own bounce
        new.x = float(np.clip(x0, lo, hi))
    return new


def _motion(rng, scene, i):
    obj = scene.objects[i]
    motion = str(rng.choice([m for m in MOTIONS if m != obj.motion]))
    target = _swap(scene, i, _moved(rng, scene, obj, motion))
    words = {"bouncing": "bounce", "still": "stand still"}.get(motion, f"move {motion}")
    return target and (target, f"make {_the(obj)} {words}", [(j, j) for j in range(len(scene.objects)) if j != i])


def _background(rng, scene, i):
    new = next(b for b in BACKGROUNDS if b != scene.background)
    return replace(scene, background=new), f"change the background to {new}", _all_kept(scene)


def _remove(rng, scene, i):
    if len(scene.objects) != 2:
        return None
    j = 1 - i
    return replace(scene, objects=[scene.objects[j]]), f"remove {_the(scene.objects[i])}", [(j, 0)]


def _add(rng, scene, i):
    if len(scene.objects) != 1:
        return None
    obj = _random_object(rng, scene.frames, scene.canvas, exclude_colours=(scene.objects[0].colour,))
    if not _fits(obj, scene, scene.objects):
        return None
    return replace(scene, objects=[scene.objects[0], obj]), \
        f"add a {obj.size} {obj.colour} {obj.shape} {motion_phrase(obj.motion)}", [(0, 0)]


_EDITS = {"colour": _colour, "shape": _shape, "size": _size, "motion": _motion, "background": _background,
          "remove": _remove, "add": _add}


def make_pair(seed: int, index: int, kind: str | None = None, canvas: int = 64, frames: int = 17,
              fps: float = 8.0, max_tries: int = 100) -> EditPair:
    """Edit pair ``index`` of ``seed``: a kind (uniform over ``KINDS`` unless given), a scene that allows it and the
    change. Scenes that cannot take the drawn change are redrawn."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown edit kind {kind!r}; known: {', '.join(KINDS)}")
    rng = np.random.default_rng([seed, index, _TAG])
    kind = kind or str(rng.choice(KINDS))
    two = {"remove": 1.0, "add": 0.0}.get(kind, 0.5)
    for _ in range(max_tries):
        scene = sample_scene(rng, canvas=canvas, frames=frames, fps=fps, two_object_fraction=two)
        made = _EDITS[kind](rng, scene, int(rng.integers(len(scene.objects))))
        if made:
            target, instruction, kept = made
            return EditPair(scene, target, instruction, kind, kept)
    raise RuntimeError(f"no {kind} edit found in {max_tries} scenes (seed {seed}, pair {index})")


# --- reading instructions back ------------------------------------------------------------------------------------

def _alt(words) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_OBJ = rf"the (?P<colour>{_alt(COLOURS)}) (?P<shape>{_alt(SHAPES)})"
_PATTERNS = {
    "colour": rf"make {_OBJ} (?P<new>{_alt(COLOURS)})",
    "shape": rf"turn {_OBJ} into a (?P<new>{_alt(SHAPES)})",
    "size": rf"make {_OBJ} (?P<new>{_alt(SIZES)})",
    "motion": rf"make {_OBJ} (?P<new>move (?:left|right|up|down)|bounce|stand still)",
    "background": rf"change the background to (?P<new>{_alt(BACKGROUNDS)})",
    "remove": rf"remove {_OBJ}",
    "add": rf"add a (?P<size>{_alt(SIZES)}) (?P<colour>{_alt(COLOURS)}) (?P<shape>{_alt(SHAPES)}) "
           r"(?P<new>moving (?:left|right|up|down)|bouncing|standing still)",
}
_COMPILED = {kind: re.compile(p) for kind, p in _PATTERNS.items()}


def parse_instruction(text: str) -> tuple[str, dict] | None:
    """(kind, named fields) of an instruction in one of ``FORMS``, or None. Case, blanks and a final full stop are
    forgiven."""
    norm = " ".join(text.lower().strip().rstrip(".").split())
    for kind, pattern in _COMPILED.items():
        m = pattern.fullmatch(norm)
        if m:
            return kind, {k: v for k, v in m.groupdict().items() if v is not None}
    return None
