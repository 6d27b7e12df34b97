"""``vgen export FORMAT``: ONNX, TensorRT or AOTInductor artifacts of a pipeline's DiT, VAE decoder, text encoders.

Logic: vgen_export.core (the ``export/`` folder).
"""

from __future__ import annotations

from pathlib import Path

import typer

from vgen.hookspecs import hookimpl


def export_command(
    fmt: str = typer.Argument(..., metavar="FORMAT", help="onnx | tensorrt | aoti"),
    pipeline: str | None = typer.Option(None, help="Pipeline family (`vgen plugins`); default: hunyuan-video."),
    weights: Path | None = typer.Option(None, help="Weights folder (diffusers layout); unset: random weights."),
    config: str | None = typer.Option(None, help="Preset for random weights, e.g. tiny."),
    out: Path | None = typer.Option(None, help="Engine directory to write (default: engines)."),
    parts: str | None = typer.Option(None, help="Comma-separated: dit, vae_decoder, text_encoder, text_encoder_2 "
                                               "(default: dit,vae_decoder)."),
    dtype: str | None = typer.Option(None, help="fp32 | fp16 | bf16 (default fp32)."),
    precision: str | None = typer.Option(None, help="TensorRT builder precision: fp16 | bf16 | fp8."),
    device: str | None = typer.Option(None, help="cpu | cuda[:N]: where the gate runs and AOTI compiles for."),
    opset: int | None = typer.Option(None, help="ONNX opset (>= 18)."),
    shapes: str | None = typer.Option(None, help="Two parity sizes 'batch=1,frames=5,height=32,width=48,"
                                                 "text_len=8;batch=2,...' (frames and pixels)."),
    min_shape: str | None = typer.Option(None, "--min", help="Smallest sizes of the TensorRT profile."),
    opt_shape: str | None = typer.Option(None, "--opt", help="Sizes TensorRT tunes for."),
    max_shape: str | None = typer.Option(None, "--max", help="Largest sizes of the TensorRT profile."),
    tolerance: float | None = typer.Option(None, help="Max relative error of the parity gate."),
    timing_cache: Path | None = typer.Option(None, help="TensorRT timing cache file (read and updated)."),
    recipe: str | None = typer.Option(None, help="Recipe with an [export] section."),
):
    """Export the DiT / VAE decoder / text encoders; each ends with a parity gate against PyTorch at two sizes."""
    from vgen_export.core.command import run_export

    from vgen.settings import load_section

    overrides = dict(pipeline=pipeline, weights=weights, config=config, out=out, parts=parts, dtype=dtype,
                     precision=precision, device=device, opset=opset, shapes=shapes, min=min_shape, opt=opt_shape,
                     max=max_shape, tolerance=tolerance, timing_cache=timing_cache)
    run_export(fmt, load_section("export", recipe, overrides))


@hookimpl
def register_commands(app):
    app.command("export")(export_command)
