"""The run folder of ``vgen train run`` under the one rule for outputs (vgen.io.outputs).

A folder that already holds something is refused unless ``--resume`` continues this run or ``--overwrite`` starts
over; the checks run before anything is written. Each run has an id (in the folder's marker and in every checkpoint
it writes), so pruning and ``--resume auto`` only ever see this run's checkpoints.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from vgen.errors import UserError
from vgen.io import outputs

COMMAND = "train run"
# what a training run writes in its folder: --overwrite replaces these and nothing else
RUN_ENTRIES = ("checkpoints", "final", "final-ema", "metrics.jsonl", "recipe.json", "loss.png", "lora.safetensors",
               "lora-ema.safetensors", "tensorboard", "profile")


def check(out: Path, resume: str | None, overwrite: bool, stop_at: int | None, inputs=()) -> str:
    """Refuse what would lose a run or the user's files; returns "new", "resume" or "overwrite". Writes nothing."""
    if stop_at is not None and stop_at < 1:
        raise UserError(f"--stop-at must be a step >= 1, got {stop_at}")
    if resume is not None and overwrite:
        raise UserError("--resume continues a run and --overwrite starts it over: give one of them")
    out = outputs.check_writable(out, "run folder")
    outputs.check_overlap(out, *inputs, what="--out")
    if out.exists() and not out.is_dir():
        raise UserError(f"run folder {out} is a file, not a folder")
    occupied = out.is_dir() and any(p.name != outputs.MARKER for p in out.iterdir())
    if resume is not None:
        if resume == "auto" and occupied and outputs.marker_command(out) not in (COMMAND, None):
            raise UserError(f"--resume auto: {out} was written by `vgen {outputs.marker_command(out)}`, not a run")
        return "resume"
    if not occupied:
        return "new"
    if overwrite:
        return "overwrite"
    raise UserError(f"run folder {out} already holds a run: pass --resume auto to continue it, or --overwrite to "
                    "start over (its checkpoints, metrics and final weights are replaced)")


def prepare(out: Path, state: str) -> str:
    """Make the run folder ready (main process only, after every check passed); returns this run's id."""
    out = Path(out)
    if state == "overwrite":
        for name in RUN_ENTRIES:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    run = run_id(out) if state == "resume" else None
    if run is None:
        run = uuid.uuid4().hex[:12]
        (out / outputs.MARKER).write_text(json.dumps({"command": COMMAND, "run": run}) + "\n")
    outputs.remove_stale_temporaries(out)
    outputs.remove_stale_temporaries(out / "checkpoints")
    return run


def run_id(out: Path) -> str | None:
    """The id of the run whose folder ``out`` is (None for a folder from before run ids)."""
    try:
        data = json.loads((Path(out) / outputs.MARKER).read_text())
        return data.get("run") if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def is_main() -> bool:
    return os.environ.get("RANK", "0") == "0"
