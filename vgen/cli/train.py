"""``vgen train run`` and ``vgen train cache``: training from a recipe's [train] section. Logic: vgen/train/.

Several processes: ``torchrun --nproc-per-node N -m vgen train run --recipe R`` (DDP, or FSDP2 with
``--distributed fsdp``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vgen.hookspecs import hookimpl

train_app = typer.Typer(help="Train a pipeline's DiT (full or LoRA) or VAE from a recipe's [train] section.",
                        no_args_is_help=True)


def _settings(recipe, set_values, **overrides):
    from vgen.errors import UserError
    from vgen.settings import load_section

    for item in set_values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set wants FIELD=VALUE, got {item!r}")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return load_section("train", recipe, overrides)


@train_app.command("run")
def run_command(
    recipe: str | None = typer.Option(None, "--recipe", "-r", help="Recipe name or TOML path with a [train] section."),
    out: Path | None = typer.Option(None, help="Run folder: checkpoints, metrics.jsonl, loss.png, final/.",
                                    show_default="recipe's, else runs/train"),
    resume: str | None = typer.Option(None, help="A checkpoint folder, or 'auto' for the newest one under --out.",
                                      show_default="a new run"),
    data: Path | None = typer.Option(None, help="Manifest (manifest.jsonl or its folder)."),
    cache: Path | None = typer.Option(None, help="Latent cache folder from `vgen train cache` (instead of --data)."),
    pipeline: str | None = typer.Option(None, help="Pipeline family to train.",
                                        show_default="recipe's, else hunyuan-video"),
    weights: Path | None = typer.Option(None, help="Start from this pipeline folder (LoRA: docs/lora.md).",
                                        show_default="random weights from the recipe's config (said in a note)"),
    distributed: str | None = typer.Option(None, help="auto | ddp | fsdp (under torchrun).", show_default="auto"),
    set_values: list[str] | None = typer.Option(None, "--set", help="Any [train] field: FIELD=VALUE (JSON value)."),
    stop_at: int | None = typer.Option(None, "--stop-at", help="Checkpoint and stop at this step (resume later)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over in a run folder that holds a run (its "
                                                               "checkpoints, metrics and final weights go)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON line."),
):
    """Train; checkpoints every checkpoint_every steps and at the end; writes final/ (or lora.safetensors)."""
    from vgen import console
    from vgen.train import trainer

    s = _settings(recipe, set_values, out=out, data=data, cache=cache, pipeline=pipeline, weights=weights,
                  distributed=distributed)
    result = trainer.run(s, resume=resume, recipe=s.model_dump(mode="json"), stop_at=stop_at, overwrite=overwrite)
    import os

    if os.environ.get("RANK", "0") == "0":
        if as_json:
            typer.echo(json.dumps(result, default=str))
        else:
            for key, value in result.items():
                console.out.print(f"{key}\t{value}", markup=False, highlight=False)


@train_app.command("cache")
def cache_command(
    recipe: str | None = typer.Option(None, "--recipe", "-r", help="Recipe with a [train] section."),
    out: Path = typer.Option(..., help="Cache folder to write (new, or its own earlier output: replaced "
                                       "atomically)."),
    data: Path | None = typer.Option(None, help="Manifest (manifest.jsonl or its folder)."),
    weights: Path | None = typer.Option(None, help="Pipeline folder whose VAE and text encoder encode the clips."),
    set_values: list[str] | None = typer.Option(None, "--set", help="Any [train] field: FIELD=VALUE (JSON value)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out that vgen train cache "
                                                               "did not write."),
):
    """Precompute VAE latents + text embeddings of every (clip, bucket) the stages use, as safetensors shards."""
    from vgen import console
    from vgen.errors import UserError
    from vgen.train.cache import build_cache

    s = _settings(recipe, set_values, data=data, weights=weights)
    if s.data is None:
        raise UserError("vgen train cache needs clips: --data MANIFEST or train.data in the recipe")
    result = build_cache(s, out, overwrite=overwrite)
    console.out.print(f"cached {result['samples']} samples in {result['shards']} shards "
                      f"({result['skipped']} clips skipped): {out}", markup=False, highlight=False)


@hookimpl
def register_commands(app):
    app.add_typer(train_app, name="train")
