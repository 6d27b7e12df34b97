"""The generation loop: text -> noise (+ image latent) -> solver over a sigma table -> VAE decode.

Every step is model-agnostic: it only uses the VideoPipeline protocol (vgen/pipeline.py). Noise is drawn on the
CPU from ``torch.Generator().manual_seed(seed)`` per sample, so a seed gives the same video on any device and in
any batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from vgen import console, registry
from vgen.errors import UserError
from vgen.pipeline import latent_shape
from vgen.sample import schedules
from vgen.sample.guidance import GuidedVelocity
from vgen.sample.offload import Placement
from vgen.sample.progress import step_bar


@dataclass
class SampleResult:
    frames: torch.Tensor  # (B, T, H, W, 3) float32 in [0, 1], on the CPU
    latents: torch.Tensor  # (B, C, t, h, w) float32 final latents, on the CPU
    timings: dict[str, float]  # seconds per stage (+ s_per_step)
    sigmas: torch.Tensor
    info: dict = field(default_factory=dict)  # the resolved settings (steps, shift, size, ...)

    @property
    def uint8(self) -> np.ndarray:
        from vgen.io.video import to_uint8

        return to_uint8(self.frames)


def check_video_size(pipe, frames: int, height: int, width: int) -> None:
    """One-line UserErrors for sizes the pipeline cannot take."""
    tc = pipe.temporal_compression
    if frames < 1 or (frames - 1) % tc:
        lo = max(1, (frames - 1) // tc * tc + 1)
        raise UserError(f"frame count must be {tc}k+1 for {pipe.name} (1, {tc + 1}, {2 * tc + 1}, ...), got {frames}; "
                        f"nearest valid: {lo} or {lo + tc}")
    m = pipe.size_multiple
    for label, v in (("height", height), ("width", width)):
        if v < m or v % m:
            near = max(m, v // m * m)
            raise UserError(f"{label} must be a positive multiple of {m} for {pipe.name}, got {v}; "
                            f"nearest valid: {near} or {near + m}")


def check_prompts(pipe, prompts: list[str]) -> list[str]:
    """Empty prompts are errors; over-long ones are truncated by the encoder, with a warning naming the limit."""
    if not prompts:
        raise UserError("no prompt given")
    for p in prompts:
        if not isinstance(p, str) or not p.strip():
            raise UserError("empty prompt")
    limit = getattr(pipe, "max_prompt_tokens", None)  # optional pipeline attributes (see vgen/pipeline.py)
    count = getattr(pipe, "count_prompt_tokens", None)
    tokenizer = getattr(pipe, "tokenizer", None)
    if limit and count is None and callable(tokenizer):
        def count(p):
            return len(tokenizer(p, add_special_tokens=False)["input_ids"])
    truncated = []
    if limit and callable(count):
        for p in prompts:
            n = count(p)
            if n > limit:
                truncated.append(p)
                console.warn(f"prompt is {n} tokens, the text encoder takes {limit}: truncated "
                             f"({p[:40]!r}{'...' if len(p) > 40 else ''})")
    return truncated


def resolve_options(pipe, *, steps=None, sampler=None, schedule=None, shift=None, guidance=None,
                    embedded_guidance=None, frames=None, height=None, width=None) -> dict:
    """Fill unset options from ``pipe.defaults`` (then from generic flow-matching defaults)."""
    d = dict(getattr(pipe, "defaults", {}) or {})
    steps = int(steps if steps is not None else d.get("steps", 50))
    schedule = schedule or d.get("schedule", "shifted")
    if shift is None:
        shift = d.get("shift", 1.0)
        few = d.get("shift_few_steps")  # HunyuanVideo uses a larger shift below 20 steps
        if few is not None and steps < int(d.get("few_steps_below", 20)):
            shift = few
    return dict(steps=steps, sampler=sampler or d.get("sampler", "flow-euler"), schedule=schedule,
                shift=float(shift), guidance=float(guidance if guidance is not None else d.get("guidance", 1.0)),
                embedded_guidance=(embedded_guidance if embedded_guidance is not None
                                   else d.get("embedded_guidance")),
                frames=int(frames if frames is not None else d.get("frames", 1)),
                height=int(height if height is not None else d.get("height", 256)),
                width=int(width if width is not None else d.get("width", 256)))


def set_vae_tiling(vae, enable: bool) -> bool:
    """Switch tiling on a VAE that supports it (diffusers' enable_tiling/disable_tiling or ``use_tiling``)."""
    if hasattr(vae, "enable_tiling") and hasattr(vae, "disable_tiling"):
        vae.enable_tiling() if enable else vae.disable_tiling()
        return enable
    if hasattr(vae, "use_tiling"):
        vae.use_tiling = enable
        return enable
    return False


def _module_place(module: torch.nn.Module):
    p = next(module.parameters(), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def noise_source(shape, seeds: list[int], generator: torch.Generator | None = None):
    """``draw()`` -> float32 noise of ``shape`` on the CPU: from ``generator``, else a generator per video seeded with
    its seed, so each video's noise (the first draw, and what a stochastic sampler draws after it) is the same
    whatever else shares its batch."""
    if generator is not None:
        return lambda: torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32).cpu()
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    return lambda: torch.stack([torch.randn(shape[1:], generator=g, dtype=torch.float32) for g in gens])


@torch.no_grad()
def generate(pipe, prompts: list[str] | str, *, steps: int | None = None, sampler: str | None = "flow-euler",
             schedule: str | None = "shifted", shift: float | None = None, guidance: float | None = 1.0,
             embedded_guidance: float | None = None, negative: str = "",
             guidance_interval: tuple[float, float] | None = None, seed: int | list[int] = 0,
             frames: int | None = None, height: int | None = None, width: int | None = None,
             latents: torch.Tensor | None = None, image=None, generator: torch.Generator | None = None,
             progress: bool = True, device=None, dtype=None, placement: Placement | None = None,
             cfg_batch: bool = True, vae_tiling: str = "auto", tile_above: int = 17 * 512 * 512,
             decode: bool = True, on_step=None) -> SampleResult:
    """Generate one video per prompt (batched). Unset options come from ``pipe.defaults``.

    ``guidance`` is the true-CFG scale (1 = off; ``negative`` is the unconditional prompt), ``embedded_guidance``
    the distilled guidance value the model takes, ``guidance_interval=(lo, hi)`` restricts true CFG to those
    sigmas. ``seed`` is one seed for all or one per prompt; ``generator`` (if given) draws all noise instead;
    ``latents`` replaces the noise. ``image`` (path, PIL image or array) is the first frame for image-to-video.
    """
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    truncated = check_prompts(pipe, prompts)
    opts = resolve_options(pipe, steps=steps, sampler=sampler, schedule=schedule, shift=shift, guidance=guidance,
                           embedded_guidance=embedded_guidance, frames=frames, height=height, width=width)
    check_video_size(pipe, opts["frames"], opts["height"], opts["width"])
    solver = registry.get("sampler", opts["sampler"]).factory()
    sigmas = schedules.sigmas(opts["schedule"], opts["steps"], opts["shift"])
    if guidance_interval is not None:
        lo, hi = map(float, guidance_interval)
        if not 0 <= lo <= hi <= 1:
            raise UserError(f"guidance interval must be 0 <= lo <= hi <= 1 (sigmas), got {lo},{hi}")
        guidance_interval = (lo, hi)

    place_device, place_dtype = _module_place(pipe.transformer)
    device = torch.device(device) if device is not None else (placement.device if placement else place_device)
    dtype = dtype or place_dtype
    placement = placement or Placement(pipe, device)
    b = len(prompts)
    seeds = [int(s) for s in (seed if isinstance(seed, (list, tuple)) else [seed] * b)]
    if len(seeds) != b:
        raise UserError(f"{len(seeds)} seeds for {b} prompts")
    timings: dict[str, float] = {}

    def timed(name, fn):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        return out

    # text
    use_cfg = opts["guidance"] != 1.0

    def encode():
        with placement.stage("text"):
            cond = pipe.encode_prompt(prompts, device=device, dtype=dtype)
            uncond = pipe.encode_prompt([negative] * b, device=device, dtype=dtype) if use_cfg else None
        return cond, uncond

    cond, uncond = timed("encode_prompt", encode)

    # noise and the image latent
    shape = latent_shape(pipe, b, opts["frames"], opts["height"], opts["width"])
    if latents is not None:
        if tuple(latents.shape) != shape:
            raise UserError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        x = latents.to(torch.float32).cpu()
    draw = noise_source(shape, seeds, generator)
    if latents is None:
        x = draw()
    x = x.to(device)
    constrain = None
    image_note = None
    first = None
    if image is not None:
        from vgen.sample import image as image_mod

        picture, image_note = image_mod.fit(image_mod.load_image(image), opts["height"], opts["width"])
        if image_note:
            console.info(f"note: {image_note}")

        def encode_image():
            with placement.stage("vae"):
                return image_mod.image_latent(pipe, picture, b, device, dtype)

        first = timed("encode_image", encode_image).to(device)

        def constrain(z):  # HunyuanVideo-I2V: the clean first latent frame is re-imposed on every state
            return torch.cat([first, z[:, :, 1:]], dim=2)

    # denoise
    velocity = GuidedVelocity(pipe, cond, uncond, scale=opts["guidance"], embedded=opts["embedded_guidance"],
                              interval=guidance_interval, batch=cfg_batch, device=device, dtype=dtype)

    def denoise():
        with placement.stage("denoise"), step_bar(opts["steps"], f"sampling {opts['steps']} steps", progress) as adv:
            def step_done(i, z):
                adv()
                if on_step is not None:
                    on_step(i, z)

            # fresh noise each step, from each video's seed; only stochastic samplers take it (a plugin's may not)
            extra = {"noise": draw} if getattr(solver, "stochastic", False) else {}
            return solver.sample(velocity, x, sigmas.to(device), constrain=constrain, on_step=step_done, **extra)

    x = timed("denoise", denoise)
    timings["s_per_step"] = timings["denoise"] / opts["steps"]

    # decode
    pixels = opts["frames"] * opts["height"] * opts["width"]
    tiled = vae_tiling == "on" or (vae_tiling == "auto" and pixels > tile_above)
    tiled = set_vae_tiling(pipe.vae, tiled)
    video = torch.empty(0)
    if decode:
        def run_decode():
            with placement.stage("vae"):
                return pipe.decode(x.to(dtype))

        video = timed("decode", run_decode)
        video = video.to(torch.float32).clamp(0, 1).permute(0, 2, 3, 4, 1).cpu()
    info = dict(opts, seeds=seeds, negative=negative, guidance_interval=guidance_interval, vae_tiling=tiled,
                model_calls=velocity.calls, truncated_prompts=len(truncated), image_note=image_note,
                device=str(device), dtype=str(dtype).replace("torch.", ""))
    return SampleResult(frames=video, latents=x.cpu(), timings=timings, sigmas=sigmas, info=info)
