"""Prompts of the shapes-world grammar: parse one back into its objects, or draw random ones with a seed.

Grammar (docs/shapes-world.md)::

    prompt  := object [" and " object] [" on a " background " background"]
    object  := "a " [size " "] colour " " shape " " motion-phrase
    motion-phrase := "moving left|right|up|down" | "bouncing" | "standing still"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from vgen_plugins.shapes.world import BACKGROUNDS, COLOURS, SHAPES, SIZES, caption, sample_scene

_MOTION_WORDS = {"moving left": "left", "moving right": "right", "moving up": "up", "moving down": "down",
                 "bouncing": "bouncing", "standing still": "still"}


def _alt(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_OBJECT = (rf"an? (?:(?P<size{{i}}>{_alt(SIZES)}) )?(?P<colour{{i}}>{_alt(COLOURS)}) "
           rf"(?P<shape{{i}}>{_alt(SHAPES)}) (?P<motion{{i}}>{_alt(_MOTION_WORDS)})")
_PROMPT = re.compile(
    _OBJECT.format(i=0) + r"(?: and " + _OBJECT.format(i=1) + r")?"
    + rf"(?: on an? (?P<background>{_alt(BACKGROUNDS)}) background)?")


@dataclass
class PromptObject:
    colour: str
    shape: str
    motion: str  # left, right, up, down, bouncing, still
    size: str | None = None  # None: the prompt leaves the size out, any size is right


@dataclass
class Prompt:
    objects: list[PromptObject] = field(default_factory=list)
    background: str | None = None  # None: not named

    def to_dict(self) -> dict:
        return {"objects": [vars(o).copy() for o in self.objects], "background": self.background}


def parse_prompt(text: str) -> Prompt:
    """The objects (and background) a grammar prompt names; ValueError when ``text`` is not in the grammar.

    Case, surrounding blanks, repeated spaces and a final full stop are forgiven.
    """
    norm = " ".join(text.lower().strip().rstrip(".").split())
    m = _PROMPT.fullmatch(norm)
    if not m:
        raise ValueError(f"not a shapes-world prompt: {text!r} (expected e.g. 'a small red circle moving right "
                         "on a black background')")
    objects = []
    for i in (0, 1):
        if m.group(f"colour{i}"):
            objects.append(PromptObject(m.group(f"colour{i}"), m.group(f"shape{i}"),
                                        _MOTION_WORDS[m.group(f"motion{i}")], m.group(f"size{i}")))
    return Prompt(objects, m.group("background"))


def is_prompt(text: str) -> bool:
    try:
        parse_prompt(text)
        return True
    except ValueError:
        return False


def random_prompts(n: int, seed: int = 0, two_object_fraction: float = 0.5, omit_size: float = 0.0,
                   omit_background: float = 0.0, canvas: int = 64, frames: int = 17) -> list[str]:
    """``n`` prompts drawn from the grammar: prompt ``i`` depends only on ``(seed, i)``.

    Each is the caption of a scene that the world can show (two objects differ in colour and can be placed apart);
    ``omit_size`` / ``omit_background`` are the chances of leaving those words out. The random streams are tagged
    so that ``random_prompts(n, s)`` never repeats the scenes of ``vgen datasets shapes --seed s``.
    """
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i, 0x9E3779B9])
        scene = sample_scene(rng, canvas=canvas, frames=frames, two_object_fraction=two_object_fraction)
        with_size = bool(rng.random() >= omit_size)
        with_background = bool(rng.random() >= omit_background)
        out.append(caption(scene, with_size=with_size, with_background=with_background))
    return out
