"""The ``[export]`` recipe section (env ``VGEN_EXPORT_*``); CLI flags of ``vgen export`` override it.

``opset``, ``precision`` and ``timing_cache`` go to the formats that read them (``Exporter.options``); unset, each
format takes its own default, and setting one that the chosen format does not read is an error.

Shapes are written ``"batch=1,frames=5,height=32,width=48,text_len=16"`` in video units (frames and pixels);
``shapes`` holds the two parity-gate sizes separated by ``;``; ``min``/``opt``/``max`` span TensorRT's profile.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from vgen.settings import section


@section("export")
class ExportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VGEN_EXPORT_", extra="forbid")

    pipeline: str = "shapes"  # registered pipeline family (the default of vgen sample too)
    weights: Path | None = None  # diffusers-layout folder; unset builds random weights from `config`
    config: str | None = None  # preset for random weights (e.g. "tiny")
    parts: str = "dit,vae_decoder"  # what to export: dit, vae_decoder, text_encoder, text_encoder_2
    dtype: str = "fp32"  # fp32 | fp16 | bf16: the artifact's precision
    precision: str | None = None  # formats that read it (TensorRT): fp16 | bf16 | fp8 (default: dtype)
    device: str = "cpu"  # cpu | cuda[:N]: where the parity gate (and AOTI's code) runs
    opset: int | None = None  # formats that read it (ONNX, TensorRT): the ONNX opset, >= 18 (default 18)
    shapes: str | None = None  # two parity sizes "a;b"; default: two small sizes of the pipeline
    min: str | None = None  # TensorRT profile: smallest sizes (default: spans the parity sizes)
    opt: str | None = None
    max: str | None = None
    tolerance: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)  # max relative error of the gate (default by dtype: fp32 1e-4, fp16 2e-2)
    timing_cache: Path | None = None  # formats that read it (TensorRT): a timing cache file, read and updated
    out: Path = Path("engines")
    overwrite: bool = False  # replace an --out that vgen export did not write
