"""``vgen info PATH``: what a video file or a checkpoint folder holds."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vgen.hookspecs import hookimpl


def describe(path: Path) -> dict:
    from vgen.errors import UserError

    if path.is_dir():
        from vgen.io.checkpoint import iter_state_dict, weight_files

        files = weight_files(path)
        config = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else None
        count, params, dtypes = 0, 0, set()
        for _, tensor, _ in iter_state_dict(path):
            count += 1
            params += tensor.numel()
            dtypes.add(str(tensor.dtype).replace("torch.", ""))
        return {"kind": "checkpoint", "path": str(path), "files": [f.name for f in files], "tensors": count,
                "parameters": params, "dtypes": sorted(dtypes), "class": (config or {}).get("_class_name")}
    if not path.exists():
        raise UserError(f"file not found: {path}")
    from vgen.io.video import read_video

    video = read_video(path)
    t, h, w, _ = video.frames.shape
    return {"kind": "video", "path": str(path), "frames": t, "fps": round(video.fps, 3), "width": w, "height": h,
            "duration": round(video.duration, 3), "audio": None if video.audio is None else
            {"channels": video.audio.shape[0], "sample_rate": video.sample_rate,
             "seconds": round(video.audio.shape[1] / video.sample_rate, 3)}}


def info(path: Path = typer.Argument(..., help="A video file or a checkpoint folder.")):
    """Print what a video file or checkpoint folder holds, as JSON."""
    typer.echo(json.dumps(describe(path), indent=2))


@hookimpl
def register_commands(app):
    app.command("info")(info)
