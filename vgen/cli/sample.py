"""``vgen sample PROMPT...``: text (or image) to video with any registered pipeline. Logic: vgen/sample/."""

from __future__ import annotations

from pathlib import Path

import typer

from vgen.hookspecs import hookimpl


def _interval(text: str | None):
    if text is None:
        return None
    from vgen.errors import UserError

    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--guidance-interval wants LO,HI (sigmas in [0, 1]), got {text!r}") from None
    return lo, hi


P = "pipeline's"  # shown as the default of options that the pipeline's defaults fill (`vgen plugins`)
GRAMMAR = ("The default model (pipeline shapes) draws the shapes world: 'a [small|large] COLOUR SHAPE MOTION "
           "[and a ...] [on a black|gray background]'; README 'The default model' lists its words.")


def sample_command(
    prompts: list[str] | None = typer.Argument(None, help="One or more prompts (one video per prompt and seed). "
                                               + GRAMMAR, show_default=False),
    prompts_file: Path | None = typer.Option(None, "--prompts", help="More prompts: .txt (one a line) or .jsonl."),
    pipeline: str | None = typer.Option(None, help="Pipeline family (`vgen plugins`).", show_default="shapes"),
    weights: str | None = typer.Option(None, help="Weights: a folder (diffusers layout) or a Hugging Face hub id "
                                       "org/name (the local HF cache; HF_HUB_OFFLINE=1 never downloads).",
                                       show_default="the pipeline's shipped weights, else random"),
    config: str | None = typer.Option(None, help="Preset for random weights, e.g. tiny.", show_default=P),
    steps: int | None = typer.Option(None, "--steps", "--num-inference-steps", "--infer-steps",
                                     help="Denoising steps.", show_default=P),
    sampler: str | None = typer.Option(None, help="flow-euler | flow-euler-stochastic | flow-heun | flow-dpmpp-2m "
                                       "(vgen plugins).", show_default=P),
    schedule: str | None = typer.Option(None, help="shifted | linear-quadratic | linear.", show_default=P),
    shift: float | None = typer.Option(None, "--shift", "--flow-shift", help="Shift of the shifted schedule.",
                                       show_default=P + " (hunyuan-video: 7, 17 below 20 steps)"),
    guidance: float | None = typer.Option(None, "--guidance", "--true-cfg-scale",
                                          help="True classifier-free guidance scale (1 = off).", show_default=P),
    guidance_scale: float | None = typer.Option(None, "--guidance-scale", help="diffusers' name: the embedded "
                                                "guidance on pipelines that take one (hunyuan-video, as diffusers' "
                                                "HunyuanVideoPipeline), true CFG on the others.", show_default=P),
    embedded_guidance: float | None = typer.Option(None, "--embedded-guidance", "--embedded-cfg-scale",
                                                   help="Distilled guidance value fed to the model.", show_default=P),
    negative: str | None = typer.Option(None, "--negative", "--neg-prompt", "--negative-prompt",
                                        help="Negative prompt (true CFG: used when guidance > 1).", show_default="''"),
    guidance_interval: str | None = typer.Option(None, help="LO,HI: true CFG only while LO <= sigma <= HI.",
                                                 show_default="all sigmas"),
    seed: list[int] | None = typer.Option(None, help="Seed; repeat for several videos per prompt.", show_default="0"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Videos denoised together (GPU throughput).",
                                          show_default="1"),
    frames: int | None = typer.Option(None, "--frames", "--video-length", "--num-frames",
                                      help="Frame count (4k+1 for 4x temporal compression).", show_default=P),
    height: int | None = typer.Option(None, help="Height in pixels.", show_default=P),
    width: int | None = typer.Option(None, help="Width in pixels.", show_default=P),
    video_size: tuple[int, int] | None = typer.Option(None, "--video-size", metavar="H W",
                                                      help="HunyuanVideo's name: height and width.", show_default=P),
    fps: float | None = typer.Option(None, help="Frames per second of the MP4.", show_default=P),
    dtype: str | None = typer.Option(None, help="bf16 | fp16 | fp32 | auto (bf16 on CUDA, fp32 on CPU).",
                                     show_default="auto"),
    device: str | None = typer.Option(None, help="cpu | cuda | cuda:N | auto.", show_default="auto"),
    out: Path | None = typer.Option(None, help="Output folder.", show_default="outputs"),
    image: Path | None = typer.Option(None, help="Image-to-video: the first frame."),
    offload: str | None = typer.Option(None, help="model | sequential: weights visit the GPU only when used.",
                                       show_default="off"),
    attention: str | None = typer.Option(None, help="Attention backend (vgen.nn.attention).", show_default="sdpa"),
    lora: Path | None = typer.Option(None, help="A LoRA file (diffusers format, e.g. from vgen train) to merge "
                                     "(docs/lora.md)."),
    lora_scale: float | None = typer.Option(None, help="Strength of --lora.", show_default="1.0"),
    engine: str | None = typer.Option(None, help="torch, or a registered export format (`vgen plugins`): run "
                                                "artifacts of vgen export.", show_default="torch"),
    engine_dir: Path | None = typer.Option(None, help="Engine directory written by vgen export."),
    vae_tiling: str | None = typer.Option(None, help="auto | on | off.", show_default="auto"),
    compile_dit: bool | None = typer.Option(None, "--compile/--no-compile", help="torch.compile the DiT's blocks; "
                                            "compiled kernels are cached (VGEN_COMPILE_CACHE, else "
                                            "~/.cache/vgen/compile), so a second run skips most of the compile "
                                            "(docs/speed.md).", show_default="no-compile"),
    fp8: bool | None = typer.Option(None, "--fp8/--no-fp8", help="The DiT's block Linear layers in FP8 (a GPU of "
                                    "compute capability 8.9+, e.g. H100; docs/speed.md).", show_default="no-fp8"),
    step_cache: float | None = typer.Option(None, "--step-cache", metavar="THRESHOLD",
                                            help="Skip the DiT's blocks after the first when the first block's "
                                            "change since the last full step is below THRESHOLD (first-block "
                                            "caching; 0 = off; 0.1 is a good start: docs/speed.md).",
                                            show_default="0"),
    cfg_batch: bool | None = typer.Option(None, "--cfg-batch/--no-cfg-batch", help="Batch cond and uncond.",
                                          show_default="cfg-batch"),
    preview: bool | None = typer.Option(None, "--preview/--no-preview", help="Also write a PNG strip.",
                                        show_default="no-preview"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary line per video."),
    from_sidecar: Path | None = typer.Option(None, "--from", help="Rerun the video a sidecar JSON describes."),
    recipe: str | None = typer.Option(None, help="Recipe with a [sample] section."),
    parallel: str | None = typer.Option(None, help="Under torchrun: ulysses | cfg | cfg-ulysses (vgen.distributed).",
                                        show_default="ulysses under torchrun"),
    dub: bool = typer.Option(False, "--dub", help="Also make each video's sound (vgen dub, in place: + .dub.json)."),
    dub_model: str | None = typer.Option(None, "--dub-model", help="Audio model for --dub.",
                                         show_default="shapes-dub"),
):
    """Generate videos: one MP4 + sidecar JSON (+ preview PNG) per prompt and seed.

    Options also take diffusers' and HunyuanVideo's names (--num-inference-steps, --flow-shift, --video-size H W,
    ...; docs/python.md, "One naming"). The default model knows a small grammar: README, "The default model"."""
    import os

    from vgen.errors import UserError
    from vgen.sample import run

    if parallel is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:  # launched by torchrun
        parallel = "ulysses"
    overrides = dict(pipeline=pipeline, weights=weights, config=config, steps=steps, sampler=sampler,
                     schedule=schedule, shift=shift, guidance=guidance, embedded_guidance=embedded_guidance,
                     guidance_scale=guidance_scale, negative=negative,
                     guidance_interval=_interval(guidance_interval), seed=seed or None, batch_size=batch_size,
                     frames=frames, height=height, width=width, video_size=video_size, fps=fps, dtype=dtype, device=device, out=out,
                     image=image, offload=offload, attention=attention, vae_tiling=vae_tiling, cfg_batch=cfg_batch,
                     preview=preview, engine=engine, engine_dir=engine_dir, lora=lora, lora_scale=lora_scale,
                     compile=compile_dit, fp8=fp8, step_cache=step_cache)
    if from_sidecar is not None:
        if prompts or prompts_file:
            raise UserError("--from reruns a sidecar's prompt; give no other prompts")
        settings, specs, data = run.replay(from_sidecar, overrides)
        sidecars = run.sample_videos(settings, specs, as_json=as_json, replayed=data, parallel=parallel)
    else:
        settings = run.load_settings(recipe, overrides)
        specs = run.read_prompts(list(prompts or []), prompts_file)
        sidecars = run.sample_videos(settings, specs, as_json=as_json, parallel=parallel)
    if dub:
        _dub(sidecars, Path(settings.out), dub_model, as_json)


def _dub(sidecars: list[dict], out: Path, model: str | None, as_json: bool) -> None:
    """Each sampled video gets its sound in place (the dub stage; a video stage never calls another stage)."""
    from vgen.dub import run as dub_run

    for side in sidecars:  # rank 0 only: the other ranks of a torchrun launch return none
        video = out / side["video"]
        s = dub_run.DubSettings(model=model, prompt=side.get("prompt") or "", seed=int(side.get("seed") or 0),
                                out=video.parent)
        dub_run.dub_videos(s, [video], as_json=as_json, in_place=True)


@hookimpl
def register_commands(app):
    app.command("sample")(sample_command)
