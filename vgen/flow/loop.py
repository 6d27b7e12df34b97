"""The generation loop: text -> noise (+ image latent) -> solver over a sigma table -> VAE decode.

Every step is model-agnostic: it only uses the VideoPipeline protocol (vgen/pipeline.py). Noise is drawn on the
CPU from ``torch.Generator().manual_seed(seed)`` per sample, so a seed gives the same video on any device and in
any batch. ``generate`` reads as its four steps: encode the prompts, prepare the latents (and the image constraint),
denoise, decode.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from vgen import console, registry
from vgen.errors import UserError
from vgen.flow import schedules, stepcache
from vgen.flow.guidance import GuidedVelocity
from vgen.flow.image import fit, image_latent, load_image
from vgen.flow.offload import Placement
from vgen.flow.progress import step_bar
from vgen.pipeline import latent_shape


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


# ----------------------------------------------------------------------------------------------------------------
# Checks and defaults


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


def _token_counter(pipe):
    """The pipeline's prompt token count: ``count_prompt_tokens``, else its ``tokenizer``; None when it has neither."""
    count = getattr(pipe, "count_prompt_tokens", None)  # optional pipeline attributes (see vgen/pipeline.py)
    tokenizer = getattr(pipe, "tokenizer", None)
    if count is None and callable(tokenizer):
        return lambda p: len(tokenizer(p, add_special_tokens=False)["input_ids"])
    return count if callable(count) else None


def check_prompts(pipe, prompts: list[str]) -> list[str]:
    """Empty prompts are errors; over-long ones are truncated by the encoder, with a warning naming the limit."""
    if not prompts:
        raise UserError("no prompt given")
    for p in prompts:
        if not isinstance(p, str) or not p.strip():
            raise UserError("empty prompt")
    advise = getattr(pipe, "prompt_warning", None)  # optional: what the model does not understand (once a prompt)
    for p in dict.fromkeys(prompts) if callable(advise) else ():
        message = advise(p)
        if message:
            console.warn(message)
    limit = getattr(pipe, "max_prompt_tokens", None)
    count = _token_counter(pipe) if limit else None
    truncated = []
    for p in prompts if count is not None else ():
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


def check_guidance_interval(interval) -> tuple[float, float] | None:
    if interval is None:
        return None
    lo, hi = map(float, interval)
    if not 0 <= lo <= hi <= 1:
        raise UserError(f"guidance interval must be 0 <= lo <= hi <= 1 (sigmas), got {lo},{hi}")
    return lo, hi


def check_seeds(seed: int | list[int], count: int) -> list[int]:
    """One seed per prompt: ``seed`` repeated, or the list given (which must have one per prompt)."""
    seeds = [int(s) for s in (seed if isinstance(seed, (list, tuple)) else [seed] * count)]
    if len(seeds) != count:
        raise UserError(f"{len(seeds)} seeds for {count} prompts")
    return seeds


def set_vae_tiling(vae, enable: bool) -> bool:
    """Switch tiling on a VAE that supports it (diffusers' enable_tiling/disable_tiling or ``use_tiling``)."""
    if hasattr(vae, "enable_tiling") and hasattr(vae, "disable_tiling"):
        vae.enable_tiling() if enable else vae.disable_tiling()
        return enable
    if hasattr(vae, "use_tiling"):
        vae.use_tiling = enable
        return enable
    return False


def module_place(module: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    """(device, dtype) of the module's first parameter; (cpu, float32) for a module without any."""
    p = next(module.parameters(), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)


def noise_source(shape, seeds: list[int], generator: torch.Generator | None = None):
    """``draw()`` -> float32 noise of ``shape`` on the CPU: from ``generator``, else a generator per video seeded with
    its seed, so each video's noise (the first draw, and what a stochastic sampler draws after it) is the same
    whatever else shares its batch."""
    if generator is not None:
        return lambda: torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32).cpu()
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    return lambda: torch.stack([torch.randn(shape[1:], generator=g, dtype=torch.float32) for g in gens])


# ----------------------------------------------------------------------------------------------------------------
# The steps of one generation


class Clock:
    """Seconds per named stage, the device synchronised at both ends so queued GPU work counts where it belongs."""

    def __init__(self, device: torch.device):
        self.device = device
        self.timings: dict[str, float] = {}

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextlib.contextmanager
    def __call__(self, name: str):
        self._sync()
        t0 = time.perf_counter()
        yield
        self._sync()
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0


def encode_prompts(pipe, prompts: list[str], negative: str, use_cfg: bool, device, dtype):
    """(cond, uncond) text embeddings; uncond (the negative prompt for each video) only under true CFG."""
    cond = pipe.encode_prompt(prompts, device=device, dtype=dtype)
    uncond = pipe.encode_prompt([negative] * len(prompts), device=device, dtype=dtype) if use_cfg else None
    return cond, uncond


def initial_latents(shape: tuple[int, ...], latents: torch.Tensor | None, draw) -> torch.Tensor:
    """The state sampling starts from, on the CPU: ``latents`` when given (checked against ``shape``), else noise."""
    if latents is None:
        return draw()
    if tuple(latents.shape) != shape:
        raise UserError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
    return latents.to(torch.float32).cpu()


def keep_first_frame(first: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """HunyuanVideo-I2V's constraint: the clean first latent frame is re-imposed on every state."""
    return torch.cat([first, z[:, :, 1:]], dim=2)


def load_first_frame(image, height: int, width: int):
    """The image fitted to (height, width) as uint8 (H, W, 3), and the note on how it was fitted (None if as is)."""
    picture, note = fit(load_image(image), height, width)
    if note:
        console.info(f"note: {note}")
    return picture, note


def denoise(solver, velocity, x: torch.Tensor, sigmas: torch.Tensor, *, constrain=None, draw=None,
            progress: bool = True, on_step=None) -> torch.Tensor:
    """Run ``solver`` over ``sigmas`` from ``x`` with a progress bar; ``on_step(i, z)`` after each step."""
    steps = len(sigmas) - 1
    with step_bar(steps, f"sampling {steps} steps", progress) as advance:
        def step_done(i, z):
            advance()
            if on_step is not None:
                on_step(i, z)

        # fresh noise each step, from each video's seed; only stochastic samplers take it (a plugin's may not)
        extra = {"noise": draw} if getattr(solver, "stochastic", False) else {}
        return solver.sample(velocity, x, sigmas.to(x.device), constrain=constrain, on_step=step_done, **extra)


def decode_frames(pipe, x: torch.Tensor, dtype) -> torch.Tensor:
    """(B, T, H, W, 3) float32 frames in [0, 1] on the CPU."""
    video = pipe.decode(x.to(dtype))
    return video.to(torch.float32).clamp(0, 1).permute(0, 2, 3, 4, 1).cpu()


def wants_tiling(vae_tiling: str, opts: dict, tile_above: int) -> bool:
    pixels = opts["frames"] * opts["height"] * opts["width"]
    return vae_tiling == "on" or (vae_tiling == "auto" and pixels > tile_above)


# ----------------------------------------------------------------------------------------------------------------
# The whole generation


@torch.no_grad()
def generate(pipe, prompts: list[str] | str, *, steps: int | None = None, sampler: str | None = "flow-euler",
             schedule: str | None = "shifted", shift: float | None = None, guidance: float | None = 1.0,
             embedded_guidance: float | None = None, negative: str = "",
             guidance_interval: tuple[float, float] | None = None, seed: int | list[int] = 0,
             frames: int | None = None, height: int | None = None, width: int | None = None,
             latents: torch.Tensor | None = None, image=None, generator: torch.Generator | None = None,
             progress: bool = True, device=None, dtype=None, placement: Placement | None = None,
             cfg_batch: bool = True, vae_tiling: str = "auto", tile_above: int = 17 * 512 * 512,
             decode: bool = True, on_step=None, step_cache: float = 0.0) -> SampleResult:
    """Generate one video per prompt (batched). Unset options come from ``pipe.defaults``.

    ``guidance`` is the true-CFG scale (1 = off; ``negative`` is the unconditional prompt), ``embedded_guidance``
    the distilled guidance value the model takes, ``guidance_interval=(lo, hi)`` restricts true CFG to those
    sigmas. ``seed`` is one seed for all or one per prompt; ``generator`` (if given) draws all noise instead;
    ``latents`` replaces the noise. ``image`` (path, PIL image or array) is the first frame for image-to-video.
    ``step_cache`` > 0 skips the DiT's blocks after the first when the first changed less than that since the last
    full call (vgen.flow.stepcache; 0 = off).
    """
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    truncated = check_prompts(pipe, prompts)
    opts = resolve_options(pipe, steps=steps, sampler=sampler, schedule=schedule, shift=shift, guidance=guidance,
                           embedded_guidance=embedded_guidance, frames=frames, height=height, width=width)
    check_video_size(pipe, opts["frames"], opts["height"], opts["width"])
    solver = registry.get("sampler", opts["sampler"]).factory()
    sigmas = schedules.sigmas(opts["schedule"], opts["steps"], opts["shift"])
    guidance_interval = check_guidance_interval(guidance_interval)
    place_device, place_dtype = module_place(pipe.transformer)
    device = torch.device(device) if device is not None else (placement.device if placement else place_device)
    dtype = dtype or place_dtype
    placement = placement or Placement(pipe, device)
    seeds = check_seeds(seed, len(prompts))
    cache = stepcache.step_cache(pipe, step_cache)
    clock = Clock(device)

    with clock("encode_prompt"), placement.stage("text"):
        cond, uncond = encode_prompts(pipe, prompts, negative, opts["guidance"] != 1.0, device, dtype)
    shape = latent_shape(pipe, len(prompts), opts["frames"], opts["height"], opts["width"])
    draw = noise_source(shape, seeds, generator)
    x = initial_latents(shape, latents, draw).to(device)
    constrain = image_note = None
    if image is not None:
        picture, image_note = load_first_frame(image, opts["height"], opts["width"])
        with clock("encode_image"), placement.stage("vae"):
            first = image_latent(pipe, picture, len(prompts), device, dtype).to(device)
        constrain = functools.partial(keep_first_frame, first)
    velocity = GuidedVelocity(pipe, cond, uncond, scale=opts["guidance"], embedded=opts["embedded_guidance"],
                              interval=guidance_interval, batch=cfg_batch, device=device, dtype=dtype)
    with clock("denoise"), placement.stage("denoise"), stepcache.installed(cache):
        x = denoise(solver, cache.wrap(velocity) if cache else velocity, x, sigmas, constrain=constrain, draw=draw,
                    progress=progress, on_step=on_step)
    clock.timings["s_per_step"] = clock.timings["denoise"] / opts["steps"]
    tiled = set_vae_tiling(pipe.vae, wants_tiling(vae_tiling, opts, tile_above))
    video = torch.empty(0)
    if decode:
        with clock("decode"), placement.stage("vae"):
            video = decode_frames(pipe, x, dtype)
    info = dict(opts, seeds=seeds, negative=negative, guidance_interval=guidance_interval, vae_tiling=tiled,
                model_calls=velocity.calls, step_cache=cache.summary() if cache else None,
                truncated_prompts=len(truncated), image_note=image_note,
                device=str(device), dtype=str(dtype).replace("torch.", ""))
    return SampleResult(frames=video, latents=x.cpu(), timings=clock.timings, sigmas=sigmas, info=info)
