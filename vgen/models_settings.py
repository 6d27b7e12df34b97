"""The ``[model]`` recipe section (env ``VGEN_MODEL_*``): which pipeline family, and its config or weights.

``build_model("hunyuan-video-13b", device="meta")`` builds what a recipe describes (on the meta device: no memory,
e.g. to count parameters or plan sharding). Stages with their own ``pipeline``/``config`` fields may read it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from vgen.settings import section


@section("model")
class ModelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VGEN_MODEL_", extra="forbid")

    pipeline: str = "hunyuan-video"  # registered pipeline family (`vgen plugins`)
    config: str | dict[str, Any] | None = None  # preset name, or a table of per-component config overrides
    weights: Path | None = None  # a diffusers-layout folder (wins over config)


def build_model(recipe: str | Path | None = None, device="meta", dtype=None, overrides: dict | None = None):
    """The pipeline a recipe's ``[model]`` section describes."""
    from vgen import registry
    from vgen.settings import load_section

    s = load_section("model", recipe, overrides)
    kwargs = {"weights": s.weights, "config": s.config, "device": device}
    if dtype is not None:
        kwargs["dtype"] = dtype
    return registry.get("pipeline", s.pipeline).factory(**kwargs)
