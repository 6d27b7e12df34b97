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
    pipeline: str | None = typer.Option(None, help="Pipeline family (`vgen plugins`), as vgen sample.",
                                   show_default="shapes"),
    weights: Path | None = typer.Option(None, help="Weights folder (diffusers layout).",
                                      show_default="the pipeline's shipped weights, else random"),
    config: str | None = typer.Option(None, help="Preset for random weights, e.g. tiny.",
                                  show_default="pipeline's"),
    out: Path | None = typer.Option(None, help="Engine directory to write.", show_default="engines"),
    parts: str | None = typer.Option(None, help="Comma-separated: dit, vae_decoder, text_encoder, "
                                               "text_encoder_2.", show_default="dit,vae_decoder"),
    dtype: str | None = typer.Option(None, help="fp32 | fp16 | bf16.", show_default="fp32"),
    precision: str | None = typer.Option(None, help="Builder precision for formats that read it (tensorrt): "
                                                   "fp16 | bf16 | fp8.", show_default="--dtype"),
    device: str | None = typer.Option(None, help="cpu | cuda[:N]: where the gate runs and AOTI compiles for.",
                                  show_default="cpu"),
    opset: int | None = typer.Option(None, help="ONNX opset (>= 18) for formats that read it.",
                                show_default="18"),
    shapes: str | None = typer.Option(None, help="Two parity sizes 'batch=1,frames=5,height=32,width=48,"
                                                 "text_len=8;batch=2,...' (frames and pixels).",
                                 show_default="two small sizes of the pipeline"),
    min_shape: str | None = typer.Option(None, "--min", help="Smallest sizes of the TensorRT profile.",
                                     show_default="spans the parity sizes"),
    opt_shape: str | None = typer.Option(None, "--opt", help="Sizes TensorRT tunes for."),
    max_shape: str | None = typer.Option(None, "--max", help="Largest sizes of the TensorRT profile."),
    tolerance: float | None = typer.Option(None, help="Max relative error of the parity gate.",
                                     show_default="by dtype: fp32 1e-4, fp16 2e-2"),
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
