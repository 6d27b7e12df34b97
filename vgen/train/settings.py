"""The ``[train]`` recipe section: what to train, on which data, in which stages, and how.

A recipe trains one pipeline's ``transformer`` (``target = "dit"``, optionally through LoRA) or its ``vae``
(``target = "vae"``). Stages run one after the other (e.g. low-res short clips, then long, then high-res), each with
its own buckets, token budget and steps; the step counter, optimizer and LR schedule run across all of them.

```toml
[train]
pipeline = "hunyuan-video"
config = "tiny"                # a preset name of the pipeline, or a table of config fields
data = "clips/manifest.jsonl"  # or cache = "cache/" written by `vgen train cache`
lr = 1e-4

[[train.stages]]
name = "256p-short"
steps = 1000
buckets = [[1, 256, 256], [17, 256, 256], [17, 256, 448]]   # (frames, height, width)
tokens_per_batch = 32768
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vgen.settings import Seed, section

Beta = Annotated[float, Field(ge=0, lt=1)]  # Adam's decay rates


class StageSettings(BaseModel):
    """One training stage: its data shapes, batch budget and length."""

    model_config = {"extra": "forbid"}

    name: str = "main"
    steps: int = Field(100, ge=1)  # optimizer steps in this stage
    buckets: list[tuple[int, int, int]] = [(1, 64, 64), (17, 64, 64)]  # (frames, height, width); frames 1 = image
    tokens_per_batch: int = Field(4096, ge=1)  # latent tokens per global micro-batch: sets each bucket's batch size
    max_batch: int = Field(64, ge=1)  # cap on the batch size of a bucket
    lr: float | None = None  # this stage's peak LR (default: train.lr)
    warmup_steps: int | None = None  # default: train.warmup_steps (the warmup restarts at each stage)

    @field_validator("buckets")
    @classmethod
    def _valid_buckets(cls, buckets):
        for f, h, w in buckets:
            if f < 1 or (f - 1) % 4:
                raise ValueError(f"bucket frames must be 4k+1, got {f}")
            if h < 1 or w < 1:
                raise ValueError(f"bucket size must be positive, got {h}x{w}")
        if not buckets:
            raise ValueError("a stage needs at least one bucket")
        return buckets


@section("train")
class TrainSettings(BaseSettings):
    """Settings of ``vgen train run`` and ``vgen train cache``."""

    model_config = SettingsConfigDict(env_prefix="VGEN_TRAIN_", extra="forbid")

    # what to train
    pipeline: str = "hunyuan-video"  # registered pipeline name
    config: str | dict[str, Any] | None = "tiny"  # preset name or config table for random initial weights
    weights: Path | None = None  # start from this pipeline folder instead of random weights
    # "dit" / "vae": train pipe.transformer / pipe.vae; any other name: a registered training target
    # (register_training_targets, e.g. "audio-ae"), run by vgen.train.targets
    target: str = "dit"

    # data
    data: Path | None = None  # manifest.jsonl (or its folder) of clips + captions
    cache: Path | None = None  # a folder written by `vgen train cache` (latents + text embeddings); wins over data
    caption_dropout: float = Field(0.1, ge=0, le=1)  # share of captions replaced by "" (for CFG)
    holdout: int = Field(0, ge=0)  # clips kept out of training for evaluation (VAE PSNR)
    data_workers: int = Field(8, ge=1)  # threads feeding batches; worker processes decoding many clips (cache, keep_decoded)
    keep_decoded: bool = False  # keep decoded clips in RAM (fp16) after first use: small data sets, many epochs
    cache_shard_size: int = Field(256, ge=1)  # samples per cache shard
    cache_in_ram: bool = False  # keep the cache's tensors in RAM once read (a cache read for many epochs)

    # stages and steps
    stages: list[StageSettings] = Field(default_factory=lambda: [StageSettings()])
    grad_accum: int = Field(1, ge=1)  # micro-batches per optimizer step
    time_limit_s: float = Field(0, ge=0)  # end training (writing final weights) after this long; 0: no limit
    compile: bool = False  # torch.compile the trained model (CUDA): small models are bound by per-op launch cost
    profile_steps: int = Field(0, ge=0)  # torch.profiler over this many steps -> out/profile (vgen.train.profiling)
    profile_from: int = Field(20, ge=0)  # the first step profiled (after warm-up and compiling)
    seed: Seed = 0

    # optimizer and schedule
    lr: float = Field(1e-4, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)  # cosine decays to lr * min_lr_ratio at the end of each stage
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[Beta, Beta] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0, allow_inf_nan=False)
    grad_clip: float = Field(1.0, ge=0)  # max global grad norm; 0 disables
    ema_decay: float = Field(0.0, ge=0, lt=1)  # 0 disables EMA; 0.999 typical

    # flow matching
    logit_mean: float = 0.0  # t = sigmoid(N(logit_mean, logit_std))
    logit_std: float = Field(1.0, gt=0)
    shift: float = Field(1.0, gt=0)  # t <- shift*t / (1 + (shift-1)*t): more weight on high noise
    guidance: float | None = None  # embedded guidance fed to distilled models while training
    # MovieGen's interpolant: x_t = (sigma_min + (1 - sigma_min) * t) * noise + (1 - t) * x0, target
    # (1 - sigma_min) * noise - x0 (MovieGen: 1e-5, with logit-normal t: logit_mean 0, logit_std 1, shift 1); 0: plain
    sigma_min: float = Field(0.0, ge=0, lt=1)

    # precision and memory
    mixed_precision: Literal["bf16", "no"] = "bf16"  # bf16 autocast on CUDA (fp32 master weights); CPU runs fp32
    activation_checkpointing: bool = False  # recompute each repeated block in backward
    distributed: Literal["auto", "ddp", "fsdp"] = "auto"  # under torchrun; auto = ddp
    # ranks per sequence-parallel group (Ulysses, pipelines that can split: pipe.sequence_parallel): each sample's
    # video tokens are split over this many ranks, so data parallelism runs over world / sequence_parallel groups;
    # must divide the world
    sequence_parallel: int = Field(1, ge=1)

    # LoRA (target dit): trains adapters only, writes out/lora.safetensors in diffusers' key format
    lora_rank: int = Field(0, ge=0)  # 0: full fine-tuning
    lora_alpha: float | None = None  # default: lora_rank
    lora_targets: list[str] = ["to_q", "to_k", "to_v", "to_out.0"]  # module name suffixes

    # VAE training (target vae)
    kl_weight: float = Field(1e-6, ge=0)
    # an L2 term beside L1: small objects on flat backgrounds are a few % of the pixels, and L1 alone settles on
    # the background (seen on the shapes world: 21 dB flat vs 25-31 dB with mse_weight 10 after 300 steps)
    mse_weight: float = Field(0.0, ge=0)
    # an edge term: L1 between the spatial gradients of the reconstruction and the clip (objectives.gradient_l1); the
    # shapes world's small triangles lose their corners to a decoder trained on pixel losses alone
    gradient_weight: float = Field(0.0, ge=0)
    fit_scaling_factor: bool = False  # VAE: end by setting scaling_factor = 1 / std of the latents (held-out clips)
    # "decoder": train the decoder only (the encoder and its quant conv frozen), so the latents a DiT was trained
    # on keep their meaning and a sharper decoder drops in beside that DiT
    vae_trainable: Literal["all", "decoder"] = "all"
    # what the decoder reconstructs from: a posterior sample (VAE training), or the posterior mean, which is what
    # `encode_video` hands a DiT and so what the DiT learns to generate (a decoder fitted to noisy samples blurs),
    # or "denoised": the mean noised to a sigma of the sampler's schedule at or below denoise_sigma_max and
    # denoised by the pipeline's own DiT with the clip's caption (SDEdit, vgen.flow.renoise), so the decoder also
    # learns from latents as the DiT's last sampling steps make them, the clip's frames still the target
    decode_from: Literal["sample", "mean", "denoised"] = "sample"
    denoise_sigma_max: float = Field(0.5, ge=0, le=1)  # "denoised": each batch one of the sigmas up to this, or 0
    outlier_weight: float = Field(0.0, ge=0)  # MovieGen outlier penalty (1e5 in the paper); 0 disables
    outlier_r: float = Field(3.0, gt=0)  # latents beyond r std of the sample's spatial statistics are penalised
    adv_weight: float = Field(0.0, ge=0)  # adversarial loss weight (0.05 in HunyuanVideo); 0 disables
    adv_start: int = Field(0, ge=0)  # step at which the discriminator loss starts
    disc_lr: float | None = None  # default: lr
    eval_every: int = Field(0, ge=0)  # PSNR on the held-out clips every N steps (and at the end); 0: end only

    # checkpoints and logs
    out: Path = Path("runs/train")
    checkpoint_every: int = Field(500, ge=0)  # 0: only at the end
    keep_last: int = Field(3, ge=1)
    log_every: int = Field(1, ge=1)
    tensorboard: bool = False
    save_final: bool = True  # write out/final (the pipeline folder `vgen sample --weights` loads)

    @field_validator("stages")
    @classmethod
    def _stages(cls, stages):
        if not stages:
            raise ValueError("at least one stage is needed")
        return stages

    @model_validator(mode="after")
    def _decoder_only(self):
        if self.decode_from == "denoised" and (self.vae_trainable != "decoder" or self.weights is None):
            raise ValueError('decode_from = "denoised" needs a trained DiT and latents that keep their meaning: '
                             'vae_trainable = "decoder" and weights')
        if self.vae_trainable != "decoder":
            return self
        if self.target != "vae":
            raise ValueError('vae_trainable = "decoder" trains a VAE: it needs target = "vae"')
        if self.fit_scaling_factor:
            raise ValueError('vae_trainable = "decoder" keeps the latents as they are: it cannot fit_scaling_factor')
        return self

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)
