"""The training loop. It knows no model and no target: the pipeline says what a target trains
(``pipe.trainable``) and how its denoiser splits over ranks (``pipe.sequence_parallel``); the objective
(vgen.train.objectives) makes the loss; batches (vgen.train.batches) and checkpoints (vgen.train.checkpoints) are
their own modules.

One optimizer step = ``grad_accum`` global micro-batches. A global micro-batch is one bucket's batch (size set by the
token budget) split evenly over the processes; every per-sample random draw is keyed by the sample's place in the
stream, so 1 process and N processes compute the same losses, and a resumed run continues bit for bit.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from pathlib import Path

import torch

from vgen import console, registry
from vgen.errors import UserError
from vgen.train import checkpoints, distributed, objectives, runfolder
from vgen.train.batches import Batches, load_data
from vgen.train.data import BadClips, Geometry
from vgen.train.logs import Logger, Window, plot_loss
from vgen.train.profiling import StepProfiler
from vgen.train.settings import TrainSettings


def build_pipeline(s: TrainSettings, device, dtype=torch.float32):
    """The pipeline to train, with the recipe's seed fixing its random initial weights."""
    backend = registry.get("pipeline", s.pipeline)
    torch.manual_seed(s.seed)
    if s.weights is not None:
        return backend.factory(weights=s.weights, config=None, device=device, dtype=dtype)
    pipe = backend.factory(weights=None, config=s.config, device=device, dtype=dtype)
    if not getattr(pipe, "weight_files", list)() and os.environ.get("RANK", "0") == "0":  # no files: random weights
        console.info(f"note: no --weights: {s.pipeline} starts from random weights (config {s.config!r}); "
                     "--weights FOLDER fine-tunes trained ones")
    check_buckets_fit(s, pipe, device)
    return pipe


def check_buckets_fit(s: TrainSettings, pipe, device) -> None:
    """A bucket that cannot fit the device even one clip at a time is refused before any data is read (vgen.memory:
    the sampling estimate of one clip, a lower bound of what training it needs)."""
    from vgen.memory import check_video_fits

    for stage in s.stages:
        for f, h, w in stage.buckets:
            check_video_fits(pipe, 1, f, h, w, torch.device(device), 17 * 512 * 512, "on", what="training bucket")


def lr_at(s: TrainSettings, step: int) -> float:
    """Linear warmup, then cosine to lr * min_lr_ratio, per stage (``step`` counts from 0 over all stages)."""
    start = 0
    for stage in s.stages:
        if step < start + stage.steps:
            peak = stage.lr if stage.lr is not None else s.lr
            warm = stage.warmup_steps if stage.warmup_steps is not None else s.warmup_steps
            i = step - start
            if i < warm:
                return peak * (i + 1) / (warm + 1)
            progress = (i - warm) / max(1, stage.steps - warm)
            return peak * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
        start += stage.steps
    return s.lr * s.min_lr_ratio


def stage_of(s: TrainSettings, step: int) -> int:
    start = 0
    for i, stage in enumerate(s.stages):
        start += stage.steps
        if step < start:
            return i
    return len(s.stages) - 1


class Trainer:
    """One training run: the pipeline, its objective, this rank's batches, the optimizer (+ EMA) and the loop."""

    def __init__(self, s: TrainSettings, recipe: dict | None = None):
        self.s = s
        self.recipe = recipe or s.model_dump(mode="json")
        if s.sequence_parallel > 1 and s.target != "dit":
            raise UserError("sequence_parallel splits a DiT's tokens: it needs target = \"dit\"")
        self.d = distributed.init(s.distributed, s.sequence_parallel)
        device = torch.device("cpu")
        if torch.cuda.is_available():
            device = torch.device("cuda", self.d.local_rank)
            torch.cuda.set_device(device)
        self.device = device
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                         if device.type == "cuda" and s.mixed_precision == "bf16" else contextlib.nullcontext())
        self.cache, self.clips, self.heldout = load_data(s)  # first: a missing data set is found before a model builds
        self.pipe = build_pipeline(s, device)
        self.geometry = Geometry.of(self.pipe)
        self.objective = objectives.make(s, self.pipe, self.clips, self.heldout, self.cache, device, self.autocast,
                                         self.d)
        self._setup_model()
        self.bad = BadClips(self.d.rank)
        self.batches = Batches(s, self.clips, self.cache, self.geometry, self.d, device, self.bad,
                               self.objective.fill)
        self.step = 0
        self.run_id: str | None = None  # set when the run folder is prepared (vgen.train.runfolder)

    def _setup_model(self) -> None:
        s, trained = self.s, self.objective.trained
        trained.train()
        if self.d.sp > 1:  # made once here so that a pipeline that cannot split says so before training
            self.pipe.sequence_parallel(self.d.sp_group, checkpointing=s.activation_checkpointing)
        elif s.activation_checkpointing:
            distributed.checkpoint_activations(trained)
        self.net = self.objective.module.to(self.device)
        self.wrapped = distributed.wrap(self.net, self.d, self.device, s.mixed_precision == "bf16")
        self.params = {n: p for n, p in self.net.named_parameters() if p.requires_grad}
        if not self.params:
            raise UserError("nothing to train: the model has no trainable parameters")
        # fused: one kernel for the whole update on a GPU (not a few per parameter group); FSDP keeps foreach
        fused = self.device.type == "cuda" and self.d.mode != "fsdp"
        self.opt = torch.optim.AdamW(list(self.params.values()), lr=s.lr, betas=tuple(s.betas), eps=s.eps,
                                     weight_decay=s.weight_decay, fused=fused or None)
        self.ema = ({n: p.detach().clone().float() for n, p in self.params.items()} if s.ema_decay > 0 else None)
        # torch.compile: the model's forward and backward as a few fused kernels (a small DiT or VAE on a GPU
        # otherwise spends its step launching thousands of tiny ops); compiled in place, so weight names stay
        self._compiled = None
        if s.compile:
            self._compiled = self.objective.compiled()
            for module in self._compiled:
                module.compile()

    def _sequence_parallel(self):
        """Inside: the denoiser runs sequence-parallel over this rank's group (forward and backward; checkpointed
        blocks recompute through the pipeline's hooks)."""
        if self.d.sp == 1:
            return contextlib.nullcontext()
        return self.pipe.sequence_parallel(self.d.sp_group, checkpointing=self.s.activation_checkpointing)

    # ---------------------------------------------------------------------------------------------- one step

    def _micro(self, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        """Forward + backward of one micro-batch; returns the per-sample losses (detached) and the numbers to log.

        Sequence parallel: every rank of a group gets the full prediction and the same loss L, and its parameter
        gradients sum over the group to S * grad L (vgen.distributed.ulysses). DDP and FSDP average gradients over
        all world = S * D ranks, so the result is the mean over the D data-parallel groups of grad L: plain
        data-parallel training on D ranks, with no extra scaling."""
        with self._sequence_parallel():
            per, logs = self.objective.loss(self.wrapped, batch, step)
            (per.mean() / self.s.grad_accum).backward()  # inside: checkpointed blocks recompute through the hooks
        return per.detach(), logs

    def train_step(self, lazy: bool = False) -> dict:
        """One optimizer step; the first one with ``compile`` falls back to eager mode if compiling fails.

        ``lazy``: the record's loss and grad norm stay tensors on the device (reading them waits for the GPU, so
        the training loop reads them only when it logs: ``settle``); every rank must settle the same records."""
        if self._compiled is None:
            record = self._train_step()
        else:
            compiled, self._compiled = self._compiled, None
            positions = list(self.batches.positions)
            try:
                record = self._train_step()  # compiling happens inside the first call: a failure raises here
            except (torch.OutOfMemoryError, UserError):
                raise
            except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager model still trains
                console.warn(f"torch.compile failed ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}); "
                             "training without it")
                for module in compiled:
                    module._compiled_call_impl = None
                self.batches.positions = positions  # the same batch again
                record = self._train_step()
        return record if lazy else self.settle(record)

    def settle(self, record: dict) -> dict:
        """The record's loss (summed over ranks) and grad norm as numbers."""
        if isinstance(record["loss"], torch.Tensor):
            record["loss"] = float(self.d.sum(record["loss"]))
        if isinstance(record["grad_norm"], torch.Tensor):
            record["grad_norm"] = float(record["grad_norm"])
        return record

    def _train_step(self) -> dict:
        s = self.s
        stage_i = stage_of(s, self.step)
        self.opt.zero_grad(set_to_none=True)
        loss_sum, samples, tokens, data_s = 0.0, 0, 0, 0.0  # loss_sum: this rank's share, a tensor on the device
        for m in range(s.grad_accum):
            t_data = time.perf_counter()
            batch = self.batches.next(stage_i)
            data_s += time.perf_counter() - t_data
            sync = (self.wrapped.no_sync() if self.d.mode == "ddp" and m < s.grad_accum - 1
                    else contextlib.nullcontext())
            try:
                with sync:
                    per, logs = self._micro(batch, self.step)
            except torch.OutOfMemoryError:
                f, h, w = batch["bucket"]
                raise UserError(f"out of memory on bucket {f}x{h}x{w} (global batch {batch['global_batch']}): "
                                f"use smaller buckets or tokens_per_batch, or set activation_checkpointing = true"
                                ) from None
            loss_sum = loss_sum + per.sum().double() / self.d.sp / batch["global_batch"]  # each sample once (settle)
            samples += batch["global_batch"]
            tokens += batch["global_batch"] * self.geometry.tokens(batch["bucket"])
        grad_norm = 0.0
        if s.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(list(self.params.values()), s.grad_clip)
            grad_norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # read when settled
        lr = lr_at(s, self.step)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.step()
        record = {"step": self.step + 1, "stage": s.stages[stage_i].name, "loss": loss_sum / s.grad_accum,
                  "lr": lr, "grad_norm": grad_norm, "samples": samples, "tokens": tokens,
                  "bucket": "x".join(map(str, batch["bucket"])), "data_s": data_s, **logs}
        record.update(self.objective.after_step(self.step))
        if self.ema is not None:
            with torch.no_grad():  # one fused kernel per dtype, not one per parameter
                torch._foreach_lerp_(list(self.ema.values()), [p.detach().float() for p in self.params.values()],
                                     1 - s.ema_decay)
        self.step += 1
        return record

    # ------------------------------------------------------------------------------------ checkpoints, outputs

    def save_checkpoint(self) -> Path:
        s = self.s
        info = {"positions": self.batches.positions, "bad_clips": self.d.all_ints(sorted(self.bad.ids)),
                "rng": checkpoints.rng_state(), "lr": lr_at(s, max(0, self.step - 1)),
                "lr_schedule": {"lr": s.lr, "warmup_steps": s.warmup_steps, "min_lr_ratio": s.min_lr_ratio,
                                "total_steps": s.total_steps},
                "recipe": self.recipe, "run": self.run_id}
        states = checkpoints.training_states(self.wrapped, self.opt, self.ema, self.objective.states())
        return checkpoints.save(s.out, self.step, self.d, states, info, s.keep_last)

    def resume(self, path: Path) -> None:
        info = checkpoints.restore(path, self.d, self.wrapped, self.opt, self.ema, self.objective)
        self.step = int(info["step"])
        self.batches.positions = list(info["positions"]) + [0] * (len(self.s.stages) - len(info["positions"]))
        self.bad.ids.update(info.get("bad_clips", []))
        if self.d.main:
            console.info(f"resumed from {path} at step {self.step}")

    def _buckets(self, stage: int) -> list[tuple[int, int, int]]:
        return [tuple(b) for b in self.s.stages[stage].buckets]

    def evaluate(self) -> dict:
        """The objective's metrics on the held-out clips (each at its bucket of the current stage)."""
        if not self.heldout:
            return {}
        # eager: held-out batches have other shapes (a recompile for each) and no backward; on the CPU Inductor's
        # fake-tensor pass also fails on the no-grad (mkldnn) 3D convolutions of a compiled VAE
        with torch.compiler.set_stance("force_eager"):
            return self.objective.evaluate(self.heldout, self._buckets(stage_of(self.s, max(0, self.step - 1))),
                                           self.bad)

    def finish(self) -> dict:
        """Write the trained weights (rank 0): an adapter file, or the pipeline folder (+ its EMA twin)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        s, out, objective = self.s, Path(self.s.out), self.objective
        result: dict = {"steps": self.step}
        full = None
        if s.save_final or objective.adapters:
            full = get_model_state_dict(self.wrapped, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        ema_full = None
        if self.ema is not None and s.save_final:
            ema_full = {n: (t.full_tensor() if hasattr(t, "full_tensor") else t).cpu() for n, t in self.ema.items()}
        if not self.d.main:
            return result
        if objective.adapters:
            return {**result, **objective.save_adapters(full, out)}
        if s.save_final:
            pipe = self.pipe
            if self.d.mode == "fsdp":  # the live modules hold shards: fill a fresh CPU copy with the full weights
                pipe = build_pipeline(s, torch.device("cpu"))
                objective.holder(pipe).load_state_dict(full, strict=False)
            objective.finalize(pipe, self.heldout, self._buckets(-1), self.bad, result)
            result["final"] = str(pipe.save(out / "final"))
            if ema_full is not None:
                objective.holder(pipe).load_state_dict(ema_full, strict=False)
                result["final_ema"] = str(pipe.save(out / "final-ema"))
        return result

    # -------------------------------------------------------------------------------------------------- loop

    def run(self, resume: str | None = None, stop_at: int | None = None, folder: str = "new") -> dict:
        """Train to the end of the last stage (or to step ``stop_at``: checkpoint and return, to resume later).
        ``folder``: what vgen.train.runfolder.check found at ``out`` (new, resume or overwrite)."""
        s, out = self.s, Path(self.s.out)
        path = checkpoints.find_resume(resume, out, runfolder.run_id(out))
        if path is not None:
            self.resume(path)
        if self.d.main:
            self.run_id = runfolder.prepare(out, folder)
            from vgen.io.atomic import write_text

            write_text(out / "recipe.json", json.dumps(self.recipe, indent=2, default=str))
        logger = Logger(out, self.d.main, s.total_steps, self.step, s.tensorboard)
        try:
            if self.step == 0 and s.eval_every:
                initial = self.evaluate()  # the untrained model's PSNR, the baseline of the curve
                if initial:
                    logger.log({"step": 0, **initial})
            end = min(s.total_steps, stop_at) if stop_at else s.total_steps
            first_loss, last, final_eval, timed_out = self._loop(logger, end)
            last_loss = self.settle(last)["loss"] if last is not None else None
            if self.step < s.total_steps and not timed_out:  # stopped at stop_at: checkpoint, resume later
                self.save_checkpoint()
                return {"steps": self.step, "stopped": True, "first_loss": first_loss, "last_loss": last_loss}
            if not (s.eval_every and self.step % s.eval_every == 0):  # not just evaluated
                final_eval = self.evaluate()
                if final_eval:
                    logger.log({"step": self.step, **final_eval})
            self.save_checkpoint()
        finally:
            logger.close()
        result = self.finish()
        bad = self.d.all_ints(sorted(self.bad.ids))
        result.update({"first_loss": first_loss, "last_loss": last_loss, "skipped_clips": len(bad), **final_eval})
        if self.d.main:
            png = plot_loss(out / "metrics.jsonl", out / "loss.png", key="loss_mean")
            if png:
                result["loss_png"] = str(png)
            if bad:
                console.warn(f"{len(bad)} unreadable clip(s) skipped in total")
        self.d.barrier()
        return result

    def _loop(self, logger: Logger, end: int) -> tuple[float | None, dict | None, dict, bool]:
        """Steps up to ``end`` (or the time limit): (first loss, last record, last evaluation, timed out)."""
        s = self.s
        first_loss = last = None
        final_eval: dict = {}
        window = Window()
        deadline = time.monotonic() + s.time_limit_s if s.time_limit_s else None
        profiler = StepProfiler(Path(s.out), s.profile_from, s.profile_steps, enabled=self.d.main)
        while self.step < end:
            if deadline is not None and self.d.sum(float(time.monotonic() > deadline)).item() > 0:
                console.warn(f"time limit of {s.time_limit_s:g} s reached at step {self.step}: finishing")
                return first_loss, last, final_eval, True  # ends like a finished run: final weights are written
            profiler.before(self.step)
            record = self.train_step(lazy=True)  # no wait for the GPU, except when a record is logged
            profiler.after(self.step)
            window.add(record)
            last = record
            if first_loss is None:
                first_loss = self.settle(record)["loss"]
            if s.eval_every and self.step % s.eval_every == 0:
                final_eval = self.evaluate()
                record.update(final_eval)
            if window.steps >= s.log_every or self.step == s.total_steps:
                record.update(window.rates())
                self.settle(record)
                record["loss_mean"] = float(self.d.sum(window.loss)) / window.steps  # since the last record: the curve
                if self.device.type == "cuda":
                    record["gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 1e9
                logger.log(record)
                window = Window()
            if s.checkpoint_every and self.step % s.checkpoint_every == 0 and self.step < end:
                self.save_checkpoint()
        return first_loss, last, final_eval, False

    def close(self) -> None:
        distributed.shutdown(self.d)


def run(s: TrainSettings, resume: str | None = None, recipe: dict | None = None, stop_at: int | None = None,
        overwrite: bool = False) -> dict:
    # the run folder is checked before anything is built or written (every rank refuses alike)
    inputs = [s.data, s.cache] + ([s.weights] if resume is None else [])  # a resumed run may start from its own
    folder = runfolder.check(Path(s.out), resume, overwrite, stop_at, inputs=inputs)
    if s.target not in ("dit", "vae"):  # a registered training target (vgen.contract.training)
        from vgen.train.targets import run_target

        return run_target(s, resume, recipe, stop_at, folder)
    trainer = Trainer(s, recipe)
    try:
        return trainer.run(resume, stop_at, folder)
    finally:
        trainer.close()
