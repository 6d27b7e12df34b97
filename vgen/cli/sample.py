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


def sample_command(
    prompts: list[str] | None = typer.Argument(None, help="One or more prompts (one video per prompt and seed)."),
    prompts_file: Path | None = typer.Option(None, "--prompts", help="More prompts: .txt (one a line) or .jsonl."),
    pipeline: str | None = typer.Option(None, help="Pipeline family (`vgen plugins`); default: shapes."),
    weights: Path | None = typer.Option(None, help="Weights folder (diffusers layout); unset: random weights."),
    config: str | None = typer.Option(None, help="Preset for random weights, e.g. tiny."),
    steps: int | None = typer.Option(None, help="Denoising steps."),
    sampler: str | None = typer.Option(None, help="flow-euler | flow-euler-stochastic | flow-heun | flow-dpmpp-2m (vgen plugins)."),
    schedule: str | None = typer.Option(None, help="shifted | linear-quadratic | linear."),
    shift: float | None = typer.Option(None, help="Shift of the shifted schedule."),
    guidance: float | None = typer.Option(None, help="True classifier-free guidance scale (1 = off)."),
    embedded_guidance: float | None = typer.Option(None, help="Distilled guidance value fed to the model."),
    negative: str | None = typer.Option(None, help="Negative prompt (true CFG)."),
    guidance_interval: str | None = typer.Option(None, help="LO,HI: true CFG only while LO <= sigma <= HI."),
    seed: list[int] | None = typer.Option(None, help="Seed; repeat for several videos per prompt."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Videos denoised together (GPU throughput)."),
    frames: int | None = typer.Option(None, help="Frame count (4k+1 for 4x temporal compression)."),
    height: int | None = typer.Option(None, help="Height in pixels."),
    width: int | None = typer.Option(None, help="Width in pixels."),
    fps: float | None = typer.Option(None, help="Frames per second of the MP4."),
    dtype: str | None = typer.Option(None, help="bf16 | fp16 | fp32 | auto."),
    device: str | None = typer.Option(None, help="cpu | cuda | cuda:N | auto."),
    out: Path | None = typer.Option(None, help="Output folder (default: outputs)."),
    image: Path | None = typer.Option(None, help="Image-to-video: the first frame."),
    offload: str | None = typer.Option(None, help="model | sequential: weights visit the GPU only when used."),
    attention: str | None = typer.Option(None, help="Attention backend (vgen.nn.attention)."),
    lora: Path | None = typer.Option(None, help="A LoRA file (diffusers format, e.g. from vgen train) to merge."),
    lora_scale: float | None = typer.Option(None, help="Strength of --lora (default 1.0)."),
    engine: str | None = typer.Option(None, help="torch, or a registered export format (`vgen plugins`): run "
                                                "artifacts of vgen export."),
    engine_dir: Path | None = typer.Option(None, help="Engine directory written by vgen export."),
    vae_tiling: str | None = typer.Option(None, help="auto | on | off."),
    cfg_batch: bool | None = typer.Option(None, "--cfg-batch/--no-cfg-batch", help="Batch cond and uncond."),
    preview: bool | None = typer.Option(None, "--preview/--no-preview", help="Also write a PNG strip."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary line per video."),
    from_sidecar: Path | None = typer.Option(None, "--from", help="Rerun the video a sidecar JSON describes."),
    recipe: str | None = typer.Option(None, help="Recipe with a [sample] section."),
    parallel: str | None = typer.Option(None, help="Under torchrun: ulysses | cfg | cfg-ulysses (vgen.distributed)."),
    dub: bool = typer.Option(False, "--dub", help="Also make each video's sound (vgen dub, in place: + .dub.json)."),
    dub_model: str | None = typer.Option(None, "--dub-model", help="Audio model for --dub (default: shapes-dub)."),
):
    """Generate videos: one MP4 + sidecar JSON (+ preview PNG) per prompt and seed."""
    import os

    from vgen.errors import UserError
    from vgen.sample import run

    if parallel is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:  # launched by torchrun
        parallel = "ulysses"
    overrides = dict(pipeline=pipeline, weights=weights, config=config, steps=steps, sampler=sampler,
                     schedule=schedule, shift=shift, guidance=guidance, embedded_guidance=embedded_guidance,
                     negative=negative, guidance_interval=_interval(guidance_interval), seed=seed or None,
                     batch_size=batch_size,
                     frames=frames, height=height, width=width, fps=fps, dtype=dtype, device=device, out=out,
                     image=image, offload=offload, attention=attention, vae_tiling=vae_tiling, cfg_batch=cfg_batch,
                     preview=preview, engine=engine, engine_dir=engine_dir, lora=lora, lora_scale=lora_scale)
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
