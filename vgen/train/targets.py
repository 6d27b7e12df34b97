"""The generic training loop for registered training targets (``register_training_targets``; vgen.contract.training).

A recipe whose ``target`` is neither "dit" nor "vae" names a registered target: the target brings its model, batches
and loss; this loop brings what every run shares with the pipeline trainer: AdamW, the recipe's LR schedule
(``trainer.lr_at``), gradient clipping, bf16 autocast on CUDA, EMA, ``time_limit_s``, metrics.jsonl and loss.png.
One process; a run is not resumed (these targets are small). With ``time_limit_s`` the LR schedule runs on whichever
of steps and time is further along, so a run that time ends still warms up and anneals (the steps it makes then
depend on the machine's speed).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import torch

from vgen import console, registry
from vgen.errors import UserError
from vgen.train.logs import Logger, plot_loss
from vgen.train.settings import TrainSettings


def run_target(s: TrainSettings, resume: str | None = None, recipe: dict | None = None,
               stop_at: int | None = None, folder: str = "new") -> dict:
    if resume is not None or stop_at is not None:
        raise UserError(f"target {s.target!r} trains in one go: --resume and --stop-at are for \"dit\" and \"vae\"")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(s.seed)
    target = registry.build("training_target", s.target, s, device)
    module = target.module.to(device).train()
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise UserError("nothing to train: the model has no trainable parameters")
    opt = torch.optim.AdamW(params, lr=s.lr, betas=tuple(s.betas), eps=s.eps, weight_decay=s.weight_decay)
    ema = [p.detach().clone().float() for p in params] if s.ema_decay > 0 else None
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" and s.mixed_precision == "bf16"
                else contextlib.nullcontext())
    out = Path(s.out)
    from vgen.train import runfolder

    runfolder.prepare(out, folder)
    from vgen.io.atomic import write_text

    write_text(out / "recipe.json", json.dumps(recipe or s.model_dump(mode="json"), indent=2, default=str))
    logger = Logger(out, True, s.total_steps, 0, s.tensorboard)
    step, first, last = 0, None, None
    try:
        step, first, last = _loop(s, target, module, params, opt, ema, autocast, logger)
    finally:
        logger.close()
    result: dict = {"steps": step, "first_loss": first, "last_loss": last}
    if s.save_final:
        result["final"] = str(target.save(out / "final"))
        if ema is not None:
            with torch.no_grad():
                for p, e in zip(params, ema, strict=True):
                    p.copy_(e.to(p.dtype))
            result["final_ema"] = str(target.save(out / "final-ema"))
    png = plot_loss(out / "metrics.jsonl", out / "loss.png", key="loss_mean")
    if png:
        result["loss_png"] = str(png)
    return result


def _loop(s: TrainSettings, target, module, params, opt, ema, autocast, logger) -> tuple[int, float, float]:
    from vgen.train.trainer import lr_at

    deadline = time.monotonic() + s.time_limit_s if s.time_limit_s else None
    batches = target.batches()
    step, first, window, started = 0, None, [], time.perf_counter()
    t0 = time.monotonic()
    while step < s.total_steps:
        if deadline is not None and time.monotonic() > deadline:
            console.warn(f"time limit of {s.time_limit_s:g} s reached at step {step}: finishing")
            break
        at = step  # the schedule's step: time's share of the run, where that is further along
        if deadline is not None:
            at = min(s.total_steps - 1, max(step, int(s.total_steps * (time.monotonic() - t0) / s.time_limit_s)))
        opt.zero_grad(set_to_none=True)
        logs: dict = {}
        total = 0.0
        for _ in range(s.grad_accum):
            batch = next(batches)
            with autocast:
                per, logs = target.loss(batch, step)
            (per.float().mean() / s.grad_accum).backward()
            total += float(per.detach().float().mean()) / s.grad_accum
        norm = torch.nn.utils.clip_grad_norm_(params, s.grad_clip) if s.grad_clip > 0 else torch.tensor(0.0)
        lr = lr_at(s, at)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema, [p.detach().float() for p in params], 1 - s.ema_decay)
        step += 1
        first = total if first is None else first
        window.append(total)
        if len(window) >= s.log_every or step == s.total_steps:
            logger.log({"step": step, "loss": total, "loss_mean": sum(window) / len(window), "lr": lr,
                        "grad_norm": float(norm), "steps_per_s": step / (time.perf_counter() - started),
                        **{k: float(v) for k, v in logs.items()}})
            window = []
    return step, first, total if step else None
