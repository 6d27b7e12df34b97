"""Training checkpoints: ``out/checkpoints/step-NNNNNNN/``, written under a temporary name and renamed (atomic),
the last K kept. Each holds the model (+ EMA), optimizer state, LR schedule, RNG states, data position and the
resolved recipe.

Single process and DDP (replicated state): safetensors + JSON, no pickle. FSDP2 (sharded state): every rank writes
its shards with torch.distributed.checkpoint into the same folder. ``state.json`` is written last: a folder without
it is incomplete and ignored by ``--resume auto``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from pathlib import Path

import torch

from vgen.errors import UserError
from vgen.train.distributed import Dist

STATE = "state.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dir(out: Path, step: int) -> Path:
    return Path(out) / "checkpoints" / f"step-{step:07d}"


def complete_checkpoints(out: Path) -> list[Path]:
    root = Path(out) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / STATE).is_file()]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def checkpoint_run(path: Path) -> str | None:
    """The id of the run that wrote checkpoint ``path`` (None before run ids)."""
    try:
        info = json.loads((Path(path) / STATE).read_text())
        return info.get("run") if isinstance(info, dict) else None
    except (OSError, ValueError):
        return None


def find_resume(resume: str | None, out: Path, run: str | None = None) -> Path | None:
    """``auto``: the newest complete checkpoint of run ``run`` under ``out`` (or None); a path: that checkpoint."""
    if not resume:
        return None
    if resume == "auto":
        found = [p for p in complete_checkpoints(out) if run is None or checkpoint_run(p) in (run, None)]
        return found[-1] if found else None
    path = Path(resume)
    if not (path / STATE).is_file():
        raise UserError(f"not a complete training checkpoint (no {STATE}): {path}")
    return path


def rng_state() -> dict:
    state = {"torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode()}
    if torch.cuda.is_available():
        state["cuda"] = [base64.b64encode(s.numpy().tobytes()).decode() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict) -> None:
    import numpy as np

    torch.set_rng_state(torch.from_numpy(np.frombuffer(base64.b64decode(state["torch"]), dtype=np.uint8).copy()))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([torch.from_numpy(np.frombuffer(base64.b64decode(s), dtype=np.uint8).copy())
                                      for s in state["cuda"]])


# ------------------------------------------------------------------ flattening optimizer state for safetensors


def _flatten(tree, prefix: str, tensors: dict, path: str = ""):
    """Replace every tensor of a nested dict/list by a reference and collect it in ``tensors``."""
    if isinstance(tree, torch.Tensor):
        key = f"{prefix}{path}"
        tensors[key] = tree.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(tree, dict):
        return {str(k): _flatten(v, prefix, tensors, f"{path}/{k}") for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_flatten(v, prefix, tensors, f"{path}/{i}") for i, v in enumerate(tree)]
    return tree


def _unflatten(tree, tensors: dict):
    if isinstance(tree, dict):
        if set(tree) == {"__tensor__"}:
            return tensors[tree["__tensor__"]]
        return {k: _unflatten(v, tensors) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_unflatten(v, tensors) for v in tree]
    return tree


def save(out: Path, step: int, d: Dist, states: dict[str, dict], info: dict, keep_last: int) -> Path:
    """Write ``states`` (name -> state dict of tensors/nesting: model, optim, ema ...) and ``info`` (JSON)."""
    final = step_dir(out, step)
    tmp = final.with_name(f".{final.name}.tmp")
    if d.main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    d.barrier()
    if d.mode == "fsdp":
        import torch.distributed.checkpoint as dcp

        dcp.save(states, checkpoint_id=str(tmp))
    elif d.main:
        from safetensors.torch import save_file

        tensors: dict[str, torch.Tensor] = {}
        tree = _flatten(states, "", tensors)
        save_file(tensors, str(tmp / "state.safetensors"), metadata={"format": "pt"})
        (tmp / "tree.json").write_text(json.dumps(tree))
    d.barrier()
    if d.main:
        (tmp / STATE).write_text(json.dumps({**info, "step": step, "mode": d.mode, "world": d.world}, indent=2))
        for f in tmp.iterdir():
            _fsync(f)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        # only this run's checkpoints are pruned: another run's (or the user's) are never touched
        mine = [p for p in complete_checkpoints(out) if checkpoint_run(p) == info.get("run")]
        for old in mine[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    d.barrier()
    return final


def load(path: Path, d: Dist, states: dict[str, dict]) -> tuple[dict[str, dict], dict]:
    """Fill ``states`` (templates of the right structure) from a checkpoint; returns (states, info)."""
    info = json.loads((path / STATE).read_text())
    saved_mode = "fsdp" if info.get("mode") == "fsdp" else "flat"
    if saved_mode != ("fsdp" if d.mode == "fsdp" else "flat"):
        raise UserError(f"{path}: written by a {info.get('mode')} run; resume it with the same distributed mode")
    if d.mode == "fsdp":
        import torch.distributed.checkpoint as dcp

        dcp.load(states, checkpoint_id=str(path))
        return states, info
    from safetensors.torch import load_file

    tensors = load_file(str(path / "state.safetensors"))
    tree = json.loads((path / "tree.json").read_text())
    return _unflatten(tree, tensors), info


def _fsync(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as f:
            os.fsync(f.fileno())


# ------------------------------------------------------------------ what a training run keeps


def training_states(model: torch.nn.Module, opt, ema: dict | None, extra: dict[str, dict]) -> dict[str, dict]:
    """The trained parameters (frozen ones left out) and optimizer state of ``model`` (wrapped or not), the EMA,
    and the objective's own state (``extra``)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    model_sd, optim_sd = get_state_dict(model, opt, options=StateDictOptions(ignore_frozen_params=True))
    states = {"model": model_sd, "optim": optim_sd}
    if ema is not None:
        states["ema"] = ema
    return {**states, **extra}


def prefill_optimizer(opt) -> None:
    """AdamW creates its state lazily; a resume needs it to exist so that it can be loaded into."""
    for group in opt.param_groups:
        for p in group["params"]:
            if not opt.state[p]:
                opt.state[p] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p),
                                "exp_avg_sq": torch.zeros_like(p)}


def restore(path: Path, d: Dist, model: torch.nn.Module, opt, ema: dict | None, objective) -> dict:
    """Load a checkpoint into the live model, optimizer, EMA and objective; set the RNG states; returns its info."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    prefill_optimizer(opt)
    objective.prefill()
    states, info = load(path, d, training_states(model, opt, ema, objective.states()))
    set_state_dict(model, opt, model_state_dict=states["model"], optim_state_dict=states["optim"],
                   options=StateDictOptions(ignore_frozen_params=True, strict=False))
    if ema is not None:
        with torch.no_grad():
            for n, t in ema.items():
                t.copy_(states["ema"][n])
    objective.load_states(states)
    set_rng_state(info["rng"])
    return info
