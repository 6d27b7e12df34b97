"""A pipeline called as a diffusers user calls one: ``video = pipe("a prompt", num_inference_steps=20)`` then
``video.save("x.mp4")``. ``PipelineBase.__call__`` lands here; options take vgen's names or diffusers' and
HunyuanVideo's (vgen.flow.names), unset ones the pipeline's defaults, and the generation is ``loop.generate``'s."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vgen import console
from vgen.errors import UserError
from vgen.flow import loop
from vgen.flow.names import derived_notes, rename_aliases, resolve_guidance_scale


@dataclass
class VideoOutput:
    """The videos of one call: ``frames`` (videos, T, H, W, 3) float32 in [0, 1] on the CPU, ``fps``, ``info`` (the
    resolved settings), ``latents``; ``save(path, index=0)`` writes video ``index`` as H.264 MP4."""

    frames: torch.Tensor
    fps: float
    info: dict = field(default_factory=dict)
    latents: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.frames.shape[0]

    def save(self, path: str | Path, index: int = 0, crf: int = 18) -> Path:
        from vgen.io.video import write_video

        return write_video(path, self.frames[index], self.fps, crf=crf)


_OPTIONS = [p for p in inspect.signature(loop.generate).parameters if p not in ("pipe", "prompts")]


def call(pipe, prompt: str | list[str], fps: float | None = None, guidance_scale: float | None = None,
         **options) -> VideoOutput:
    """Generate one video per prompt; unset options (``guidance`` included) take the pipeline's defaults."""
    try:
        options = rename_aliases(options)
        options, scale_note = resolve_guidance_scale(pipe, {**options, "guidance_scale": guidance_scale})
    except ValueError as exc:
        raise UserError(str(exc)) from None
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise UserError(f"unknown option {unknown[0]!r} for {pipe.name}; known: {', '.join(_OPTIONS)} "
                        "(and diffusers' names: docs/python.md)")
    for name in ("sampler", "schedule", "guidance"):  # generate's fixed defaults give way to the pipeline's
        options.setdefault(name, None)
    result = loop.generate(pipe, prompt, **options)
    for note in ([scale_note] if scale_note else []) + derived_notes(pipe, result.info, options.get("shift") is not None):
        console.info(note)
    return VideoOutput(result.frames, float(fps or pipe.defaults.get("fps", 24)), result.info, result.latents)
