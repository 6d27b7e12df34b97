"""What ``vgen edit`` runs with: the settings shared by a run's jobs, and one job."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class EditSettings(BaseModel):
    """None: the editor's, the pipeline's or the run's default (resolved values go to the sidecar)."""

    model_config = {"extra": "forbid"}

    method: str | None = None  # a registered editor; None: the default editor of the pipeline (instructions) or flowedit
    pipeline: str | None = None  # None: the editor's own (meta "pipeline") or shapes
    weights: Path | None = None  # the pipeline's weights folder (or what its factory takes); None: its default
    config: str | None = None  # a preset for random weights (tests: "tiny")
    strength: float | None = Field(None, ge=0, le=1)  # the sigma the edit starts at
    steps: int | None = Field(None, ge=1)
    guidance: float | None = Field(None, ge=0, le=1e3, allow_inf_nan=False)  # issue 32: finite
    seed: int = Field(0, ge=0, lt=2**64)  # torch seeds are 64-bit
    device: str = "auto"
    dtype: str = "auto"
    out: Path = Path("outputs")
    crf: int = 18


class EditJob(BaseModel):
    """One edit: the source video and either an instruction or a source and a target prompt."""

    model_config = {"extra": "forbid"}

    video: Path
    instruction: str | None = None
    source_prompt: str | None = None
    target_prompt: str | None = None
    index: int = 0


def make_settings(values: dict, source: str = "option") -> EditSettings:
    """EditSettings of ``values``; a bad value is one line naming the field."""
    from pydantic import ValidationError

    from vgen.errors import UserError

    try:
        return EditSettings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"{source}{'.'.join(map(str, err['loc'])) or '?'}: {err['msg']}") from None
