"""``vgen export FORMAT``: artifacts of a pipeline's DiT, VAE decoder, text encoders in any registered format.

Logic: vgen.export; the formats (onnx, tensorrt, aoti built in) are plugins (vgen.contract.export).
"""

from __future__ import annotations

from pathlib import Path

import typer

from vgen.hookspecs import hookimpl


def export_command(
    fmt: str = typer.Argument(..., metavar="FORMAT", help="A registered export format (`vgen plugins`): onnx, "
                                                          "tensorrt, aoti or a plugin's."),
    pipeline: str | None = typer.Option(None, help="Pipeline family (`vgen plugins`); default: shapes, as vgen sample."),
    weights: Path | None = typer.Option(None, help="Weights folder (diffusers layout); unset: random weights."),
    config: str | None = typer.Option(None, help="Preset for random weights, e.g. tiny."),
    out: Path | None = typer.Option(None, help="Engine directory to write (default: engines)."),
    parts: str | None = typer.Option(None, help="Comma-separated: dit, vae_decoder, text_encoder, text_encoder_2 "
                                               "(default: dit,vae_decoder)."),
    dtype: str | None = typer.Option(None, help="fp32 | fp16 | bf16 (default fp32)."),
    precision: str | None = typer.Option(None, help="Builder precision for formats that read it (tensorrt): "
                                                   "fp16 | bf16 | fp8."),
    device: str | None = typer.Option(None, help="cpu | cuda[:N]: where the gate runs and AOTI compiles for."),
    opset: int | None = typer.Option(None, help="ONNX opset (>= 18; default 18) for formats that read it."),
    shapes: str | None = typer.Option(None, help="Two parity sizes 'batch=1,frames=5,height=32,width=48,"
                                                 "text_len=8;batch=2,...' (frames and pixels)."),
    min_shape: str | None = typer.Option(None, "--min", help="Smallest sizes of the TensorRT profile."),
    opt_shape: str | None = typer.Option(None, "--opt", help="Sizes TensorRT tunes for."),
    max_shape: str | None = typer.Option(None, "--max", help="Largest sizes of the TensorRT profile."),
    tolerance: float | None = typer.Option(None, help="Max relative error of the parity gate."),
    timing_cache: Path | None = typer.Option(None, help="Timing cache file for formats that read it (tensorrt)."),
    recipe: str | None = typer.Option(None, help="Recipe with an [export] section."),
    overwrite: bool | None = typer.Option(None, "--overwrite", help="Replace an --out that vgen export did not "
                                                                    "write."),
):
    """Export the DiT / VAE decoder / text encoders; each ends with a parity gate against PyTorch at two sizes."""
    from vgen.export.run import run_export
    from vgen.settings import load_section

    overrides = dict(pipeline=pipeline, weights=weights, config=config, out=out, parts=parts, dtype=dtype,
                     precision=precision, device=device, opset=opset, shapes=shapes, min=min_shape, opt=opt_shape,
                     max=max_shape, tolerance=tolerance, timing_cache=timing_cache, overwrite=overwrite)
    run_export(fmt, load_section("export", recipe, overrides))


@hookimpl
def register_commands(app):
    app.command("export")(export_command)
