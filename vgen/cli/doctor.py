"""``vgen doctor``: what this machine can run, each item ok/missing with what it enables and, when missing, the
extra of vgen's pyproject.toml that installs it (``pip install 'vgen[EXTRA]'``)."""

from __future__ import annotations

import importlib
import json
import platform

import typer

from vgen.hookspecs import hookimpl

# the first-party export formats' extras (a third-party format names its packages in Exporter.available())
FORMAT_EXTRAS = {"onnx": "export", "tensorrt": "gpu"}


def _check(name: str, enables: str, probe, extra: str | None = None) -> dict:
    """One row; ``extra``: what installs the item when it is missing (None: nothing vgen's extras hold)."""
    try:
        detail = probe()
        row = {"item": name, "ok": detail is not False and detail is not None,
               "detail": "" if detail in (True, None, False) else str(detail), "enables": enables}
    except Exception as exc:
        row = {"item": name, "ok": False, "detail": f"{type(exc).__name__}: {exc}", "enables": enables}
    row["extra"] = extra
    row["install"] = None if row["ok"] or extra is None else f"pip install 'vgen[{extra}]'"
    return row


def _version(module: str):
    return lambda: getattr(importlib.import_module(module), "__version__", "installed")


def _cuda():
    import torch

    if not torch.cuda.is_available():
        return False
    return ", ".join(f"{i}: {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count()))


def _ffmpeg():
    import av

    from vgen.io.video import h264_encoder

    enc = h264_encoder()
    if enc is None:
        raise RuntimeError(f"PyAV {av.__version__} has no H.264 encoder")
    return f"PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info}, H.264 encoder {enc}, AAC {'aac' in av.codecs_available}"


def checks() -> list[dict]:
    items = [
        _check("python", "everything", lambda: platform.python_version()),
        _check("torch", "every model", _version("torch")),
        _check("cuda", "GPU sampling and training", _cuda),
        _check("pyav/ffmpeg", "reading and writing video and audio", _ffmpeg),
        _check("transformers", "text encoders", _version("transformers")),
        _check("huggingface_hub", "--weights org/name (the Hugging Face cache)", _version("huggingface_hub")),
        _check("scenedetect", "vgen curate shot splitting", _version("scenedetect"), "curate"),
        _check("opencv", "vgen curate scores and camera motion", _version("cv2"), "curate"),
        _check("peft", "LoRA training (docs/lora.md)", _version("peft"), "train"),
        _check("tensorboard", "vgen train tensorboard = true", _version("tensorboard"), "train"),
        _check("ray", "vgen curate --engine ray", _version("ray"), "distributed"),
    ]
    return items + exporter_checks()


def exporter_checks() -> list[dict]:
    """One row per registered export format: ``Exporter.available()`` says what it runs with, or why it cannot."""
    try:
        from vgen import registry

        table = registry.backends()["exporter"]
    except Exception as exc:  # doctor must always answer
        return [{"item": "exporters", "ok": False, "detail": f"{type(exc).__name__}: {exc}", "enables": "export"}]
    return [_check(f"exporter {name}", f"vgen export {name} / vgen sample --engine {name}",
                   lambda b=backend: b.factory().available(), FORMAT_EXTRAS.get(name))
            for name, backend in sorted(table.items())]


def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """Report python, torch, CUDA, PyAV/FFmpeg, each export format, what each enables and the extra that installs
    what is missing."""
    from rich.table import Table

    from vgen import console

    rows = checks()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="vgen doctor")
    for col in ("item", "status", "detail", "enables", "install"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["item"], "ok" if r["ok"] else "missing", r["detail"], r["enables"], r["install"] or "")
    console.out.print(table)


@hookimpl
def register_commands(app):
    app.command("doctor")(doctor)
