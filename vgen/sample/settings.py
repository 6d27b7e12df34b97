"""The ``[sample]`` recipe section (env ``VGEN_SAMPLE_*``). Unset (None) values take the pipeline's defaults.

Fields also answer to the names diffusers and HunyuanVideo's scripts use (``vgen.flow.names.ALIASES``: ``num_inference_steps``,
``flow_shift``, ``video_size = [H, W]``, ...); ``guidance_scale`` is kept as given and resolved once the pipeline is
known (diffusers' HunyuanVideo pipeline means the embedded guidance by it, its other pipelines true CFG).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vgen.flow.names import rename_aliases
from vgen.settings import Finite, Positive, Seed, section

Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


@section("sample")
class SampleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VGEN_SAMPLE_", extra="forbid")

    # model
    pipeline: str = "shapes"  # registered pipeline family (`vgen plugins`)
    weights: Path | None = None  # diffusers-layout folder; unset builds random weights from `config`
    config: str | None = None  # preset name for random weights (e.g. "tiny"); the pipeline's default when unset
    device: str = "auto"
    dtype: str = "auto"  # bf16 | fp16 | fp32 | auto (bf16 on cuda, fp32 on cpu)
    # solver
    steps: int | None = Field(None, ge=1, le=10_000)
    sampler: str | None = None  # flow-euler | flow-euler-stochastic | flow-heun | flow-dpmpp-2m | plugin
    schedule: str | None = None  # shifted | linear-quadratic | linear | plugin
    shift: float | None = Field(None, gt=0, le=1e4, allow_inf_nan=False)  # for the shifted schedule
    # guidance
    guidance: float | None = Field(None, ge=0, le=1e3, allow_inf_nan=False)  # true classifier-free guidance scale (1 = off)
    embedded_guidance: float | None = Field(None, ge=0, le=1e3, allow_inf_nan=False)  # distilled guidance fed to the model (HunyuanVideo: 6.0)
    negative: str = ""  # negative prompt for true CFG
    guidance_interval: tuple[Unit, Unit] | None = None  # apply true CFG only while lo <= sigma <= hi
    guidance_scale: float | None = None  # diffusers' name: embedded guidance where the pipeline takes it, else CFG
    cfg_batch: bool = True  # cond and uncond in one batch (faster) or two passes (less memory)
    # video
    seed: list[Seed] = [0]  # one video per prompt and seed
    batch_size: int = Field(1, ge=1)  # videos denoised together (each keeps its own seed's noise): GPU throughput
    frames: int | None = Field(None, ge=1)
    height: int | None = Field(None, ge=1)
    width: int | None = Field(None, ge=1)
    fps: float | None = Field(None, gt=0, le=1000, allow_inf_nan=False)  # 0 is refused, never read as unset
    image: Path | None = None  # image-to-video: the first frame
    # memory
    offload: Literal["model", "sequential"] | None = None
    attention: str | None = None  # attention backend (vgen.nn.attention)
    lora: Path | None = None  # a LoRA file (diffusers key format, e.g. from vgen train) merged into the DiT
    lora_scale: Finite = 1.0
    engine: str = "torch"  # torch, or a registered export format run from engine_dir (`vgen plugins`)
    engine_dir: Path | None = None  # the engine directory vgen export wrote
    # speed (docs/speed.md)
    compile: bool = False  # torch.compile the DiT's blocks (kernels cached in ~/.cache/vgen/compile)
    fp8: bool = False  # the DiT's block Linear layers in FP8 (vgen.nn.fp8: Hopper/Ada GPUs; CPU slowly)
    step_cache: float = Field(0.0, ge=0, le=1e3, allow_inf_nan=False)  # first-block residual caching; 0 = off
    vae_tiling: Literal["auto", "on", "off"] = "auto"
    tile_above: Positive = 17 * 512 * 512  # auto tiling when frames * height * width exceeds this
    # outputs
    out: Path = Path("outputs")
    preview: bool = False  # also write a PNG strip per video
    crf: int = Field(18, ge=0, le=51)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data):
        return rename_aliases(data) if isinstance(data, dict) else data
