"""What ``register_editors`` registers: a way to change a video's latents (vgen/edit runs them).

``register(name, factory, pipeline=..., default_for=..., description=...)``; ``factory() -> Editor``. The stage
loads a pipeline, encodes the source video, hands the editor the latents and an ``EditRequest`` and decodes what it
returns. An editor either takes a source and a target prompt (``takes = "prompts"``: training-free methods that work
with any flow pipeline) or an instruction (``takes = "instruction"``: a trained editor, which names the pipeline its
weights belong to in the ``pipeline`` meta key).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

    from vgen.pipeline import VideoPipeline

TAKES = ("prompts", "instruction")


@dataclass
class EditRequest:
    """What to change; None: the editor's (or the pipeline's) default."""

    source_prompt: str | None = None  # what the source video shows (takes "prompts")
    target_prompt: str | None = None  # what the edited video should show (takes "prompts")
    instruction: str | None = None  # the change, in words (takes "instruction")
    strength: float | None = None  # how far from the source the edit may go: the sigma it starts at, in [0, 1]
    steps: int | None = None  # steps of the pipeline's schedule over the whole [1, 0]
    guidance: float | None = None  # classifier-free guidance scale of the target (1 = off)

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Editor(Protocol):
    takes: str  # "prompts" or "instruction"

    def edit(self, pipe: VideoPipeline, latents: torch.Tensor, request: EditRequest,
             generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        """Edited latents (float32, shape of ``latents``: the source's, as ``pipe.encode_video`` gives them) and
        the settings it resolved (recorded in the sidecar). Every random draw comes from ``generator`` (CPU), so a
        seed reruns bit for bit. A request it cannot take: ``vgen.errors.UserError``."""
