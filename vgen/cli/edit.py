"""``vgen edit VIDEO [INSTRUCTION]``: change a video as an instruction (a trained editor) or a pair of prompts
(FlowEdit / SDEdit, any flow pipeline) says. Logic: vgen/edit/."""

from __future__ import annotations

from pathlib import Path

import typer

from vgen.hookspecs import hookimpl


def edit_command(
    video: Path | None = typer.Argument(None, help="The source video (MP4)."),
    instruction: str | None = typer.Argument(None, help="What to change, e.g. \"make the red circle blue\" "
                                                        "(the trained editor of the pipeline)."),
    source_prompt: str | None = typer.Option(None, "--source-prompt", help="What the video shows (flowedit, sdedit).", show_default='none (instruction mode)'),
    target_prompt: str | None = typer.Option(None, "--target-prompt", help="What it should show (flowedit, sdedit).", show_default='none (instruction mode)'),
    method: str | None = typer.Option(None, help="A registered editor: flowedit | sdedit | shapes-instruct | ... "
                                                 "(`vgen plugins`); default: the pipeline's trained editor for an "
                                                 "instruction, flowedit for prompts.", show_default="the pipeline's trained editor, else flowedit"),
    strength: float | None = typer.Option(None, help="The sigma in [0, 1] the edit starts at (0: no change).", show_default="the editor's"),
    pipeline: str | None = typer.Option(None, help="Pipeline family (default: shapes).", show_default='shapes'),
    weights: Path | None = typer.Option(None, help="The pipeline's weights (default: the shipped ones).", show_default="the pipeline's shipped weights"),
    config: str | None = typer.Option(None, help="Preset for random weights, e.g. tiny.", show_default='none'),
    steps: int | None = typer.Option(None, help="Steps of the schedule over the whole [1, 0].", show_default="pipeline's"),
    guidance: float | None = typer.Option(None, help="Classifier-free guidance scale (1 = off).", show_default="the editor's"),
    seed: int | None = typer.Option(None, help="Seed of every noise draw (default 0).", show_default='0'),
    device: str | None = typer.Option(None, help="cpu | cuda | cuda:N | auto.", show_default='auto'),
    dtype: str | None = typer.Option(None, help="bf16 | fp16 | fp32 | auto.", show_default='auto'),
    out: Path | None = typer.Option(None, help="Output folder (default: outputs).", show_default='outputs'),
    jobs: Path | None = typer.Option(None, "--jobs", help="Many edits with one model load: a .jsonl of "
                                                         "{\"video\", \"instruction\" | \"source_prompt\", "
                                                         "\"target_prompt\"} lines.", show_default='none'),
    from_sidecar: Path | None = typer.Option(None, "--from", help="Rerun the edit a sidecar JSON describes.", show_default='none'),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary line per edit."),
):
    """Edit a video: one MP4 + sidecar JSON per edit. Sources must have a size the pipeline takes (shapes: 64x64,
    17 frames); other sizes are refused with one line, not resized."""
    from vgen.edit import run
    from vgen.edit.settings import EditJob, make_settings
    from vgen.errors import UserError

    overrides = dict(method=method, pipeline=pipeline, weights=weights, config=config, strength=strength,
                     steps=steps, guidance=guidance, seed=seed, device=device, dtype=dtype, out=out)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if from_sidecar is not None:
        if video is not None or jobs is not None or source_prompt or target_prompt:
            raise UserError("--from reruns a sidecar's edit; give no other video, instruction or prompts")
        settings, todo, data = run.replay(from_sidecar, overrides)
        run.edit_videos(settings, todo, as_json=as_json, replayed=data)
        return
    settings = make_settings(overrides, "--")
    if jobs is not None:
        if video is not None:
            raise UserError("give a VIDEO or --jobs FILE, not both")
        todo = run.read_jobs(jobs)
    elif video is None:
        raise UserError("no video given (vgen edit VIDEO [INSTRUCTION] ..., --jobs FILE or --from SIDECAR)")
    else:
        todo = [EditJob(video=video, instruction=instruction, source_prompt=source_prompt,
                        target_prompt=target_prompt)]
    run.edit_videos(settings, todo, as_json=as_json)


@hookimpl
def register_commands(app):
    app.command("edit")(edit_command)
