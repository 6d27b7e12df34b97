"""Structured captions from a local vision-language model, as HunyuanVideo makes them.

The model is a transformers folder (``[curate.stage_options.vlm] model = "/path"``; never fetched from a hub) of an
image-text-to-text model with a chat template (LLaVA, Qwen2-VL, ...). A few evenly spaced frames of the clip and a
prompt asking for one JSON object go in; the first JSON object in the answer is parsed and checked: it must give
the short and dense descriptions as text, the other fields default to "". The result is stored as
``labels["structured_caption"]`` (the same structure the template captioner writes) and the dense description is
the caption text. An answer without valid JSON records ``labels["vlm_error"]`` and gives no caption, so the next
captioner in ``captioners`` (e.g. the template) supplies it.
"""

from __future__ import annotations

import json
from pathlib import Path

from vgen.curate.stages import ClipContext
from vgen.errors import UserError

FIELDS = ("short_description", "dense_description", "background", "style", "shot_type", "lighting", "atmosphere",
          "camera_motion")
REQUIRED = ("short_description", "dense_description")
PROMPT = ("Describe this video clip (frames in order). Answer with one JSON object and nothing else, with the keys: "
          "short_description (one sentence on the main content), dense_description (every subject, action and "
          "detail, several sentences), background (the environment), style (realistic, animation, ...), shot_type "
          "(close-up, medium, wide, aerial, ...), lighting, atmosphere (the mood), camera_motion. The camera motion "
          "measured is: {camera_motion}.")


def parse_structured(text: str) -> dict[str, str] | None:
    """The first JSON object in ``text`` with the structured-caption fields, or None when there is none valid."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start >= 0:
        try:
            value, _end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return validate(value)
        start = text.find("{", start + 1)
    return None


def validate(value: dict) -> dict[str, str] | None:
    """Keep the known fields as single-line text; None unless both descriptions are non-empty text."""
    out = {}
    for key in FIELDS:
        v = value.get(key, "")
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            v = ", ".join(v)
        if not isinstance(v, str):
            return None
        out[key] = " ".join(v.split())
    return out if all(out[k] for k in REQUIRED) else None


class VLMCaptioner:
    """Caption kept clips with the model folder in ``stage_options["vlm"]["model"]`` (loaded once per worker).

    Options: ``frames`` (images given to the model, default 4), ``max_new_tokens`` (default 384), ``prompt`` (with
    ``{camera_motion}``), ``device`` (default: cuda when available, else cpu)."""

    def __init__(self, settings):
        opts = settings.stage_options.get("vlm", {})
        self.folder = str(opts.get("model") or "")
        self.frames = int(opts.get("frames", 4))
        self.max_new_tokens = int(opts.get("max_new_tokens", 384))
        self.prompt = str(opts.get("prompt", PROMPT))
        self.device = opts.get("device")
        self._model = None

    def check(self) -> None:
        """Called when the run's stages are built: a missing folder fails the run before any work."""
        if not self.folder or not Path(self.folder).is_dir():
            raise UserError(f"captioner 'vlm' needs a local model folder: [curate.stage_options.vlm] model = "
                            f"\"/path\" (got {self.folder or None!r})")

    def _load(self):
        if self._model is None:
            self.check()
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor

            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._processor = AutoProcessor.from_pretrained(self.folder, local_files_only=True)
            model = AutoModelForImageTextToText.from_pretrained(self.folder, local_files_only=True)
            self._model = model.to(device).eval()
        return self._processor, self._model

    def answer(self, clip: ClipContext) -> str:
        """The model's raw answer for the clip."""
        import numpy as np
        import torch
        from PIL import Image

        processor, model = self._load()
        idx = np.linspace(0, len(clip.frames) - 1, min(self.frames, len(clip.frames))).round().astype(int)
        images = [Image.fromarray(clip.frames[i]) for i in idx]
        text = self.prompt.format(camera_motion=clip.labels.get("camera_motion", "unknown"))
        messages = [{"role": "user", "content": [*({"type": "image"} for _ in images), {"type": "text", "text": text}]}]
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = processor(images=images, text=prompt, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        return processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]

    def __call__(self, clip: ClipContext) -> str | None:
        raw = self.answer(clip)
        structured = parse_structured(raw)
        if structured is None:
            clip.labels["vlm_error"] = f"no valid JSON caption in the answer: {raw[:120]!r}"
            return None
        structured["camera_motion"] = clip.labels.get("camera_motion", structured["camera_motion"])
        clip.labels["structured_caption"] = structured
        return structured["dense_description"]
