"""``vgen dub VIDEO.mp4...``: a soundtrack generated from the video (and a prompt), muxed in. Logic: vgen/dub/."""

from __future__ import annotations

from pathlib import Path

import typer

from vgen.hookspecs import hookimpl


def dub_command(
    videos: list[Path] | None = typer.Argument(None, help="Videos to dub (each gets OUT/<name>.mp4 + .dub.json)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder.", show_default='outputs'),
    prompt: str | None = typer.Option(None, help="What the sound should be (optional).", show_default="''"),
    model: str | None = typer.Option(None, help="Audio model (`vgen plugins`); default: shapes-dub.", show_default='shapes-dub'),
    weights: Path | None = typer.Option(None, help="Model folder instead of the shipped weights.", show_default="the model's shipped weights"),
    config: str | None = typer.Option(None, help="Preset for random weights, e.g. tiny.", show_default='none'),
    seed: int | None = typer.Option(None, help="Seed (default 0).", show_default='0'),
    steps: int | None = typer.Option(None, help="Solver steps (default: the model's).", show_default="the model's"),
    guidance: float | None = typer.Option(None, help="Classifier-free guidance scale (1 = off).", show_default="the model's"),
    device: str | None = typer.Option(None, help="cpu | cuda | cuda:N.", show_default='cpu'),
    replace: bool = typer.Option(False, "--replace", help="Give a video that has sound new sound."),
    extend: bool = typer.Option(False, "--extend", help="Keep a video's sound and continue it to the video's end."),
    from_sidecar: Path | None = typer.Option(None, "--from", help="Rerun what a .dub.json sidecar describes.", show_default='none'),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON line per video."),
):
    """Generate sound for videos: the video stream is copied as is, the sound added as AAC."""
    from vgen.dub import run
    from vgen.errors import UserError

    flags = dict(out=out, prompt=prompt, model=model, weights=weights, config=config, seed=seed, steps=steps,
                 guidance=guidance, device=device, replace=replace or None, extend=extend or None)
    if from_sidecar is not None:
        if videos:
            raise UserError("--from reruns a sidecar's video; give no other videos")
        settings, videos, data = run.replay(from_sidecar, flags)
        run.dub_videos(settings, videos, as_json=as_json, replayed=data)
        return
    if not videos:
        raise UserError("no video given (vgen dub VIDEO.mp4 ... --out DIR, or --from SIDECAR)")
    if out is None:
        raise UserError("--out DIR is needed (where the dubbed videos go)")
    settings = run.DubSettings(**{k: v for k, v in flags.items() if v is not None})
    run.dub_videos(settings, list(videos or []), as_json=as_json)


@hookimpl
def register_commands(app):
    app.command("dub")(dub_command)
