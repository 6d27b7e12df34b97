"""Captioners: a sidecar text file next to the source, or a template over the clip's labels and scores.

A VLM captioner (``vlm.py``, or another plugin registering ``kind="caption"``) gets the ClipContext after the clip
file is written (``clip.path``, ``clip.frames``, ``clip.labels``) and returns the text or None. The template also
writes ``labels["structured_caption"]`` (HunyuanVideo's JSON fields) unless a model captioner did.
"""

from __future__ import annotations

import string
from collections import defaultdict

from vgen.curate.stages import ClipContext


class Sidecar:
    """``video.mp4`` + ``video.txt`` (or another of ``sidecar_suffixes``): the text is every clip's caption."""

    def __init__(self, settings):
        self.settings = settings

    def __call__(self, clip: ClipContext) -> str | None:
        for path in sidecars(clip.source.path, self.settings.sidecar_suffixes):
            text = path.read_text(errors="replace").strip()
            if text:
                return " ".join(text.split())
        return None


def sidecars(path, suffixes):
    return [p for p in (path.with_suffix(s) for s in suffixes) if p != path and p.is_file()]


class Template:
    """``caption_template`` formatted with the clip's labels, scores, ``duration``, ``width``, ``height``, ``fps``
    and ``source`` (the file stem); unknown fields format as empty."""

    def __init__(self, settings):
        self.settings = settings

    def __call__(self, clip: ClipContext) -> str | None:
        info = clip.source.info
        fields = defaultdict(str, {**clip.scores, **{k: v for k, v in clip.labels.items() if not isinstance(v, dict)},
                                   "duration": clip.duration, "width": info["width"], "height": info["height"],
                                   "fps": clip.fps, "source": clip.source.path.stem})
        try:
            text = string.Formatter().vformat(self.settings.caption_template, (), fields)
        except (ValueError, TypeError):  # a numeric format spec over a missing (empty) field
            text = string.Formatter().vformat(self.settings.caption_template.replace(":.0f", ""), (), fields)
        text = " ".join(text.replace(" ,", ",").split()).strip(" ,")
        if text and "structured_caption" not in clip.labels:
            clip.labels["structured_caption"] = structured(clip, text)
        return text or None


def structured(clip: ClipContext, text: str) -> dict[str, str]:
    """The structured caption (vlm.FIELDS) a template can fill: the text, an earlier captioner's text as the dense
    description, the lighting word and the camera motion; what only a model can see stays empty."""
    earlier = next((t for t in clip.captions.values() if t), "")
    return {"short_description": text, "dense_description": earlier or text, "background": "", "style": "",
            "shot_type": "", "lighting": str(clip.labels.get("brightness_word", "")), "atmosphere": "",
            "camera_motion": str(clip.labels.get("camera_motion", ""))}
