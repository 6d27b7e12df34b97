"""The training loop, model-agnostic: it only talks to a pipeline's ``transformer``/``vae`` modules and its
``encode_video`` / ``encode_prompt`` / ``denoise`` methods.

One optimizer step = ``grad_accum`` global micro-batches. A global micro-batch is one bucket's batch (size set by the
token budget) split evenly over the processes; every per-sample random draw is keyed by the sample's place in the
stream, so 1 process and N processes compute the same losses, and a resumed run continues bit for bit.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from vgen import console, registry
from vgen.errors import UserError
from vgen.pipeline import cat_text
from vgen.train import checkpoints, distributed, objectives
from vgen.train.data import (
    BadClips,
    BatchStream,
    Geometry,
    LatentCache,
    assign_bucket,
    batch_size,
    decode_clips,
    generator,
    load_pixels,
    read_clips,
)
from vgen.train.logs import Logger, plot_loss
from vgen.train.profiling import StepProfiler
from vgen.train.settings import TrainSettings


class Denoiser(torch.nn.Module):
    """The trainable DiT as one module whose forward is ``pipe.denoise`` (what DDP/FSDP wrap)."""

    def __init__(self, pipe):
        super().__init__()
        self.transformer = pipe.transformer
        object.__setattr__(self, "pipe", pipe)  # not a submodule: its other parts are frozen and not wrapped

    def forward(self, latents, timestep, text, guidance=None):
        return self.pipe.denoise(latents, timestep, text, guidance)


class Autoencoder(torch.nn.Module):
    """The trainable VAE as one module: encode, sample, decode."""

    def __init__(self, vae, sample: bool = True):
        super().__init__()
        self.vae, self.sample = vae, sample

    def forward(self, x, gens, refine=None):
        return objectives.encode_decode(self.vae, x, gens, self.sample, refine)


def build_pipeline(s: TrainSettings, device, dtype=torch.float32):
    """The pipeline to train, with the recipe's seed fixing its random initial weights."""
    backend = registry.get("pipeline", s.pipeline)
    torch.manual_seed(s.seed)
    if s.weights is not None:
        return backend.factory(weights=s.weights, config=None, device=device, dtype=dtype)
    return backend.factory(weights=None, config=s.config, device=device, dtype=dtype)


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
        self.pipe = build_pipeline(s, device)
        self.geometry = Geometry.of(self.pipe)
        self._setup_data()
        self._setup_model()
        self.bad = BadClips(self.d.rank)
        self._pool = ThreadPoolExecutor(s.data_workers, thread_name_prefix="vgen-data")  # map keeps the order
        self._prefetch = ThreadPoolExecutor(1, thread_name_prefix="vgen-prefetch")  # the next batch, while one trains
        self._ahead: dict = {}
        self._decoded: dict | None = {} if s.keep_decoded else None
        self.step = 0
        self.positions = [0] * len(s.stages)
        self._streams: dict[int, BatchStream] = {}

    # ------------------------------------------------------------------------------------------------- setup

    def _setup_data(self) -> None:
        s = self.s
        self.cache = LatentCache(s.cache, s.cache_in_ram) if s.cache else None
        if self.cache is not None and s.target == "vae":
            raise UserError("a VAE trains on pixels: set train.data (a manifest), not train.cache")
        if self.cache is not None:
            clips = [self.cache.clips[k] for k in sorted(self.cache.clips)]
        elif s.data is not None:
            clips = read_clips(s.data)
        else:
            raise UserError("no training data: set train.data (a manifest) or train.cache (`vgen train cache`)")
        order = torch.randperm(len(clips), generator=generator("holdout", s.seed)).tolist()
        held = set(order[: s.holdout]) if s.holdout < len(clips) else set()
        if s.holdout and not held:
            raise UserError(f"holdout = {s.holdout} leaves no clip to train on ({len(clips)} clips)")
        self.clips = {c.index: c for i, c in enumerate(clips) if i not in held}
        self.heldout = [c for i, c in enumerate(clips) if i in held]
        if s.fit_scaling_factor and s.target == "vae" and not self.heldout:
            raise UserError("fit_scaling_factor measures the latents of held-out clips: set holdout > 0")

    def _setup_model(self) -> None:
        s, pipe = self.s, self.pipe
        parts = pipe.modules().values() if callable(getattr(pipe, "modules", None)) else vars(pipe).values()
        for value in parts:  # everything frozen but what we train
            if isinstance(value, torch.nn.Module):
                value.requires_grad_(False)
        self.disc = None
        if s.target == "dit":
            pipe.transformer.requires_grad_(True)
            if s.lora_rank:
                from vgen.train.lora import add_lora

                add_lora(pipe.transformer, s.lora_rank, s.lora_alpha, s.lora_targets)
            self.net = Denoiser(pipe)
            inner = pipe.transformer
        else:
            pipe.vae.requires_grad_(True)
            if s.vae_trainable == "decoder":
                for name in ("encoder", "quant_conv"):  # what makes the latents
                    if isinstance(getattr(pipe.vae, name, None), torch.nn.Module):
                        getattr(pipe.vae, name).requires_grad_(False)
            self.net = Autoencoder(pipe.vae, sample=s.decode_from == "sample")
            if s.decode_from == "denoised":  # the frozen DiT samples (eval mode) from one of these sigmas a batch
                from vgen.sample.refine import tail

                pipe.transformer.eval()
                self._sigma_choices = [float(v) for v in tail(pipe, s.denoise_sigma_max)]  # ends with 0: the mean
            inner = pipe.vae
            if s.adv_weight > 0:
                self.disc = objectives.PatchDiscriminator3D().to(self.device)
                self.disc_opt = torch.optim.AdamW(self.disc.parameters(), lr=s.disc_lr or s.lr, betas=(0.5, 0.9))
        inner.train()
        self.sp_dit = self._sequence_parallel_dit() if self.d.sp > 1 else None
        if s.activation_checkpointing and self.sp_dit is not None:
            # the DiT's own checkpointing recomputes blocks through their __call__, so the Ulysses hooks
            # (RoPE rows, parallel attention) run again in the recompute; generic wrapping would bypass them
            self.sp_dit.gradient_checkpointing = True
        elif s.activation_checkpointing:
            distributed.checkpoint_activations(inner)
        self.net.to(self.device)
        self.wrapped = distributed.wrap(self.net, self.d, self.device, s.mixed_precision == "bf16")
        self.params = {n: p for n, p in self.net.named_parameters() if p.requires_grad}
        if not self.params:
            raise UserError("nothing to train: the model has no trainable parameters")
        # fused: one kernel for the whole update on a GPU (not a few per parameter group); FSDP keeps foreach
        fused = self.device.type == "cuda" and self.d.mode != "fsdp"
        self.opt = torch.optim.AdamW(list(self.params.values()), lr=s.lr, betas=tuple(s.betas), eps=s.eps,
                                     weight_decay=s.weight_decay, fused=fused or None)
        self.ema = ({n: p.detach().clone().float() for n, p in self.params.items()} if s.ema_decay > 0 else None)
        # torch.compile: the DiT's forward and backward as a few fused kernels (a small DiT on a GPU otherwise
        # spends its step launching ~12k tiny ops); compiled in place, so weight names stay as they are
        self._compiled = None
        if s.compile:
            if s.target != "dit":
                raise UserError("compile = true compiles the DiT: it needs target = \"dit\"")
            inner.compile()
            self._compiled = inner

    def _sequence_parallel_dit(self) -> torch.nn.Module:
        """The HunyuanVideo-style DiT that ``ulysses`` splits: the transformer itself (hunyuan-video) or its
        ``dit`` (shapes)."""
        dit = getattr(self.pipe.transformer, "dit", self.pipe.transformer)
        if not all(hasattr(dit, n) for n in ("x_embedder", "proj_out", "transformer_blocks",
                                              "single_transformer_blocks", "gradient_checkpointing")):
            raise UserError(f"sequence_parallel > 1 needs a HunyuanVideo-style DiT (pipelines hunyuan-video, shapes); "
                            f"{self.s.pipeline!r} has a {type(dit).__name__}")
        return dit

    def _sequence_parallel(self):
        """Inside: the DiT runs Ulysses sequence-parallel over this rank's group (forward and backward)."""
        if self.sp_dit is None:
            return contextlib.nullcontext()
        from vgen.distributed.ulysses import ulysses

        return ulysses(self.sp_dit, self.d.sp_group)

    def stream(self, i: int) -> BatchStream:
        if i not in self._streams:
            stage = self.s.stages[i]
            buckets = [tuple(b) for b in stage.buckets]
            groups: dict[int, list[int]] = {b: [] for b in range(len(buckets))}
            for clip in self.clips.values():
                b = assign_bucket(clip, buckets)
                if b is not None and (self.cache is None or (clip.index, buckets[b]) in self.cache.by_clip_bucket):
                    groups[b].append(clip.index)
            sizes = {b: batch_size(buckets[b], self.geometry, stage.tokens_per_batch, stage.max_batch, self.d.dp_world)
                     for b in groups}
            self._streams[i] = BatchStream(groups, sizes, self.s.seed, i)
            if self._decoded is not None and self.cache is None:
                self._predecode([(cid, buckets[b]) for b, ids in groups.items() for cid in ids])
        return self._streams[i]

    # ----------------------------------------------------------------------------------------------- batches

    def _predecode(self, wanted: list) -> None:
        """keep_decoded: decode a stage's clips once, up front, in worker processes (decoding them batch by batch
        in threads is bound by the GIL: ~40 clips/s, a slow first epoch)."""
        todo = [(cid, b) for cid, b in wanted if (cid, tuple(b)) not in self._decoded and cid not in self.bad.ids]
        if not todo:
            return
        t0 = time.perf_counter()
        pixels = decode_clips([(self.clips[c], tuple(b)) for c, b in todo], self.s.data_workers, half=True)
        for (cid, b), x in zip(todo, pixels, strict=True):
            if isinstance(x, UserError):
                self.bad.add(cid, str(x))
            else:
                self._decoded[(cid, tuple(b))] = x
        if self.d.main and not console.state.quiet:
            console.info(f"decoded {len(todo)} clips in {time.perf_counter() - t0:.0f} s")

    def _load(self, clip_id: int, bucket):
        if self.cache is not None:
            entry = self.cache.by_clip_bucket[(clip_id, tuple(bucket))]
            return entry, self.cache.latents(entry)
        if self._decoded is None:
            return None, load_pixels(self.clips[clip_id], bucket)
        key = (clip_id, tuple(bucket))
        if key not in self._decoded:  # always serve the fp16 copy, so a resumed run sees the same values
            self._decoded[key] = load_pixels(self.clips[clip_id], bucket).half()
        return None, self._decoded[key].float()

    def _load_or_replace(self, clip_id: int, group: list[int], bucket):
        """A sample, or (when its clip is unreadable) the next readable clip of the same bucket."""
        for cid in _after(clip_id, group):
            if cid in self.bad.ids:
                continue
            try:
                return cid, self._load(cid, bucket)
            except UserError as exc:
                self.bad.add(cid, str(exc))
        raise UserError(f"every clip of bucket {bucket[0]}x{bucket[1]}x{bucket[2]} is unreadable")

    def next_batch(self, stage_i: int) -> dict:
        """This rank's share of the next global micro-batch of a stage; the one after it is made in the background
        (batches depend only on their stage and position, so a prefetched batch is the one that would be made)."""
        pos = self.positions[stage_i]
        self.positions[stage_i] += 1
        ahead, self._ahead = self._ahead.pop((stage_i, pos), None), {}
        batch = ahead.result() if ahead is not None else self._make_batch(stage_i, pos)
        self._ahead[(stage_i, pos + 1)] = self._prefetch.submit(self._make_batch, stage_i, pos + 1)
        return batch

    def _make_batch(self, stage_i: int, pos: int) -> dict:
        """The micro-batch at ``pos`` of a stage's stream (the ranks of a sequence-parallel group share one: they
        split each sample's tokens instead)."""
        stream = self.stream(stage_i)
        b, ids = stream.at(pos)
        bucket = tuple(self.s.stages[stage_i].buckets[b])
        per = len(ids) // self.d.dp_world
        js = range(self.d.dp_rank * per, (self.d.dp_rank + 1) * per)
        group = stream.groups[b]
        load = lambda j: self._load_or_replace(ids[j], group, bucket)  # noqa: E731
        # cached latents are memory-mapped reads: threads would only add lock traffic; clips decode in threads
        loaded = [load(j) for j in js] if self.cache is not None else list(self._pool.map(load, js))
        keys = [(stage_i, pos, j) for j in js]
        # one generator per global batch, each rank its rows (not one per sample: a Python loop over the batch on
        # the prefetch thread, which shares the GIL with the training loop)
        drop = torch.rand(len(ids), generator=generator("caption", self.s.seed, stage_i, pos))[js.start:js.stop]
        captions = [None if d else cid for (cid, _), d in zip(loaded, (drop < self.s.caption_dropout).tolist(),
                                                                strict=True)]
        batch = {"bucket": bucket, "global_batch": len(ids), "keys": keys, "captions": captions}
        x = self._to_device(torch.stack([data for _, (_, data) in loaded]))
        if self.s.target == "vae":
            batch["pixels"] = x
            if self.s.decode_from == "denoised":  # the DiT denoises with each clip's own caption
                batch["prompts"] = [self.clips[cid].caption for cid, _ in loaded]
            return batch
        with torch.no_grad():
            if self.cache is not None:
                batch["latents"] = x
                texts = [self.cache.text(entry if cap is not None else None)
                         for (_, (entry, _)), cap in zip(loaded, captions, strict=True)]
                batch["text"] = {k: self._to_device(v) for k, v in cat_text(texts).items()}
            else:
                batch["latents"] = self.pipe.encode_video(x)
                prompts = [self.clips[c].caption if c is not None else "" for c in captions]
                batch["text"] = self.pipe.encode_prompt(prompts, device=self.device)
        # the flow-matching noise too: drawn here, it is off the step's critical path
        drawn = objectives.flow_noise(generator("noise", self.s.seed, stage_i, pos), len(ids),
                                      batch["latents"].shape[1:], self.s.logit_mean, self.s.logit_std, self.s.shift)
        batch["drawn"] = tuple(self._to_device(t[js.start:js.stop].contiguous()) for t in drawn)
        return batch

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        """A batch tensor on the training device without a wait: a plain host-to-GPU copy synchronizes the stream,
        so the step would wait for the GPU to finish the previous one (no overlap of Python and kernels)."""
        if self.device.type != "cuda":
            return t
        return t.pin_memory().to(self.device, non_blocking=True)

    # ---------------------------------------------------------------------------------------------- one step

    def _micro(self, batch: dict, step: int) -> torch.Tensor:
        """Forward + backward of one micro-batch; returns the per-sample losses (detached)."""
        s = self.s
        if s.target == "dit":
            x_t, timestep, target = objectives.flow_matching_inputs(batch["latents"], *batch["drawn"])
            guidance = None
            if s.guidance is not None:
                guidance = torch.full((x_t.shape[0],), float(s.guidance), device=self.device)
            # Sequence parallel: every rank of a group gets the full prediction and the same loss L, and its
            # parameter gradients sum over the group to S * grad L (vgen.distributed.ulysses). DDP and FSDP average
            # gradients over all world = S * D ranks, so the result is the mean over the D data-parallel groups of
            # grad L: plain data-parallel training on D ranks, with no extra scaling.
            with self._sequence_parallel():
                with self.autocast:
                    pred = self.wrapped(x_t, timestep, batch["text"], guidance)
                per = objectives.per_sample_mse(pred, target)
                (per.mean() / s.grad_accum).backward()  # inside: checkpointed blocks recompute through the hooks
            self._last_parts = {}
            return per.detach()
        else:
            x = batch["pixels"]
            gens = [generator("noise", s.seed, *key) for key in batch["keys"]]
            refine = self._refine(batch) if s.decode_from == "denoised" else None
            with self.autocast:
                mean, logvar, z, recon = self.wrapped(x, gens, refine)
            rec = (recon.float() - x.float()).abs().flatten(1).mean(1)
            kl = objectives.kl_per_sample(mean, logvar)
            per = rec + s.kl_weight * kl
            parts = {"l1": rec.mean().item(), "kl": kl.mean().item()}
            if s.mse_weight > 0:
                mse = (recon.float() - x.float()).pow(2).flatten(1).mean(1)
                per = per + s.mse_weight * mse
                parts["mse"] = mse.mean().item()
            if s.gradient_weight > 0:
                grad = objectives.gradient_l1(recon, x)
                per = per + s.gradient_weight * grad
                parts["grad"] = grad.mean().item()
            if s.outlier_weight > 0:
                op = objectives.outlier_penalty(mean, s.outlier_r)
                per = per + s.outlier_weight * op
                parts["outlier"] = op.mean().item()
            self._adv_on = self.disc is not None and step >= s.adv_start
            if self._adv_on:
                with self.autocast:
                    g_adv = objectives.generator_adv_loss(self.disc(recon))
                per = per + s.adv_weight * g_adv
                parts["g_adv"] = g_adv.mean().item()
                self._last_recon = (x.detach(), recon.detach())
            self._last_parts = parts
        (per.mean() / s.grad_accum).backward()
        return per.detach()

    def _refine(self, batch: dict):
        """decode_from = "denoised": the posterior means -> the DiT's SDEdit of them from one sigma for the batch
        (drawn from the schedule's sigmas up to denoise_sigma_max, and 0), noise from each sample's generator."""
        from vgen.sample.refine import denoise_from

        choices = self._sigma_choices
        stage_i, pos = batch["keys"][0][:2]
        sigma = choices[int(torch.randint(len(choices), (1,), generator=generator("sigma", self.s.seed, stage_i, pos)))]
        config = self.pipe.vae.config
        scale, shift = config.scaling_factor, getattr(config, "shift_factor", None) or 0.0
        gens = [generator("denoise", self.s.seed, *key) for key in batch["keys"]]

        def refine(mean):
            if sigma == 0:
                return mean
            noise = torch.stack([torch.randn(mean.shape[1:], generator=g) for g in gens])
            z = denoise_from(self.pipe, (mean.float() - shift) * scale, batch["prompts"], sigma, noise)
            return z / scale + shift

        return refine

    def _disc_step(self) -> float:
        """One discriminator update on the last micro-batch (hinge loss); replicated, grads all-reduced by hand."""
        real, fake = self._last_recon
        self.disc_opt.zero_grad(set_to_none=True)
        with self.autocast:
            loss = objectives.hinge_d_loss(self.disc(real), self.disc(fake)).mean()
        loss.backward()
        if self.d.active:
            for p in self.disc.parameters():
                if p.grad is not None:
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= self.d.world
        for g in self.disc_opt.param_groups:
            g["lr"] = self.s.disc_lr or self.s.lr
        self.disc_opt.step()
        return float(self.d.sum(loss.detach().cpu()) / self.d.world)

    def train_step(self, lazy: bool = False) -> dict:
        """One optimizer step; the first one with ``compile`` falls back to eager mode if compiling fails.

        ``lazy``: the record's loss and grad norm stay tensors on the device (reading them waits for the GPU, so
        the training loop reads them only when it logs: ``settle``); every rank must settle the same records."""
        if self._compiled is None:
            record = self._train_step()
        else:
            compiled, self._compiled = self._compiled, None
            positions = list(self.positions)
            try:
                record = self._train_step()  # compiling happens inside the first call: a failure raises here
            except (torch.OutOfMemoryError, UserError):
                raise
            except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager model still trains
                console.warn(f"torch.compile failed ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}); "
                             "training without it")
                compiled._compiled_call_impl = None
                self.positions = positions  # the same batch again
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
            batch = self.next_batch(stage_i)
            data_s += time.perf_counter() - t_data
            sync = (self.wrapped.no_sync() if self.d.mode == "ddp" and m < s.grad_accum - 1
                    else contextlib.nullcontext())
            try:
                with sync:
                    per = self._micro(batch, self.step)
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
                  "bucket": "x".join(map(str, batch["bucket"])), "data_s": data_s}
        record.update(self._last_parts)
        if self.disc is not None and getattr(self, "_adv_on", False):
            record["d_loss"] = self._disc_step()
        if self.ema is not None:
            with torch.no_grad():  # one fused kernel per dtype, not one per parameter
                torch._foreach_lerp_(list(self.ema.values()), [p.detach().float() for p in self.params.values()],
                                     1 - s.ema_decay)
        self.step += 1
        return record

    # ------------------------------------------------------------------------------------------- checkpoints

    def _states(self) -> dict:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        opts = StateDictOptions(ignore_frozen_params=True)
        model_sd, optim_sd = get_state_dict(self.wrapped, self.opt, options=opts)
        states = {"model": model_sd, "optim": optim_sd}
        if self.ema is not None:
            states["ema"] = self.ema
        if self.disc is not None:
            states["disc"] = self.disc.state_dict()
            states["disc_optim"] = self.disc_opt.state_dict()
        return states

    def save_checkpoint(self) -> Path:
        info = {"positions": self.positions, "bad_clips": self.d.all_ints(sorted(self.bad.ids)),
                "rng": checkpoints.rng_state(), "lr": lr_at(self.s, max(0, self.step - 1)),
                "lr_schedule": {"lr": self.s.lr, "warmup_steps": self.s.warmup_steps,
                                "min_lr_ratio": self.s.min_lr_ratio, "total_steps": self.s.total_steps},
                "recipe": self.recipe}
        return checkpoints.save(self.s.out, self.step, self.d, self._states(), info, self.s.keep_last)

    def _prefill_optimizer(self, opt) -> None:
        """AdamW creates its state lazily; a resume needs it to exist so that it can be loaded into."""
        for group in opt.param_groups:
            for p in group["params"]:
                if not opt.state[p]:
                    opt.state[p] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p),
                                    "exp_avg_sq": torch.zeros_like(p)}

    def resume(self, path: Path) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        self._prefill_optimizer(self.opt)
        if self.disc is not None:
            self._prefill_optimizer(self.disc_opt)
        states, info = checkpoints.load(path, self.d, self._states())
        set_state_dict(self.wrapped, self.opt, model_state_dict=states["model"], optim_state_dict=states["optim"],
                       options=StateDictOptions(ignore_frozen_params=True, strict=False))
        if self.ema is not None:
            with torch.no_grad():
                for n, t in self.ema.items():
                    t.copy_(states["ema"][n])
        if self.disc is not None:
            self.disc.load_state_dict(states["disc"])
            self.disc_opt.load_state_dict(states["disc_optim"])
        self.step = int(info["step"])
        self.positions = list(info["positions"]) + [0] * (len(self.s.stages) - len(info["positions"]))
        self.bad.ids.update(info.get("bad_clips", []))
        checkpoints.set_rng_state(info["rng"])
        if self.d.main:
            console.info(f"resumed from {path} at step {self.step}")

    # ------------------------------------------------------------------------------------------------- evaluation

    def evaluate(self) -> dict:
        """PSNR of VAE reconstructions of the held-out clips (each at its bucket of the current stage)."""
        if self.s.target != "vae" or not self.heldout:
            return {}
        buckets = [tuple(b) for b in self.s.stages[stage_of(self.s, max(0, self.step - 1))].buckets]
        values = []
        self.net.eval()
        with torch.no_grad(), self.autocast:
            for clip in self.heldout:
                b = assign_bucket(clip, buckets)
                if b is None:
                    continue
                try:
                    x = load_pixels(clip, buckets[b])[None].to(self.device)
                except UserError as exc:
                    self.bad.add(clip.index, str(exc))
                    continue
                _, _, _, recon = self.net(x, [generator("eval", self.s.seed, clip.index)])
                values.append(float(objectives.psnr(recon.clamp(-1, 1), x)[0]))
        self.net.train()
        return {"psnr": sum(values) / len(values)} if values else {}

    def fit_scaling_factor(self, vae: torch.nn.Module) -> float:
        """1 / std of the posterior means of the held-out clips: latents of unit variance for the DiT (a new VAE's
        latents can sit far from it; at std 0.3 the DiT sees mostly noise at every t it trains on)."""
        buckets = [tuple(b) for b in self.s.stages[-1].buckets]
        sums, count = torch.zeros(2, dtype=torch.float64), 0
        device = next(vae.parameters()).device
        was_training = vae.training
        vae.eval()
        with torch.no_grad():
            for clip in self.heldout:
                b = assign_bucket(clip, buckets)
                if b is None or clip.index in self.bad.ids:
                    continue
                z = vae.encode(load_pixels(clip, buckets[b])[None].to(device)).mode().double().cpu()
                sums += torch.stack([z.sum(), z.pow(2).sum()])
                count += z.numel()
        vae.train(was_training)
        if not count:  # every held-out clip unreadable: keep the factor rather than lose the run
            console.warn("fit_scaling_factor: no readable held-out clip; scaling_factor left as it is")
            return float(vae.config.scaling_factor)
        mean = sums[0] / count
        return float(1.0 / (sums[1] / count - mean**2).sqrt())

    # ------------------------------------------------------------------------------------------------------ final

    def _full_state(self) -> dict[str, torch.Tensor]:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(self.wrapped, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def finish(self) -> dict:
        s, out = self.s, Path(self.s.out)
        result: dict = {"steps": self.step}
        full = self._full_state() if (s.save_final or s.lora_rank) else None
        ema_full = None
        if self.ema is not None and s.save_final:
            ema_full = {n: (t.full_tensor() if hasattr(t, "full_tensor") else t).cpu() for n, t in self.ema.items()}
        if not self.d.main:
            return result
        if s.lora_rank and s.target == "dit":
            from vgen.train.lora import lora_from_state_dict, save_lora

            scaling = (s.lora_alpha or s.lora_rank) / s.lora_rank
            result["lora"] = str(save_lora(out / "lora.safetensors", lora_from_state_dict(full, scaling),
                                           {"vgen_pipeline": s.pipeline, "rank": s.lora_rank}))
        elif s.save_final:
            pipe = self.pipe
            if self.d.mode == "fsdp":  # the live modules hold shards: fill a fresh CPU copy with the full weights
                pipe = build_pipeline(s, torch.device("cpu"))
                Denoiser(pipe).load_state_dict(full, strict=False) if s.target == "dit" else \
                    Autoencoder(pipe.vae).load_state_dict(full, strict=False)
            if s.fit_scaling_factor and s.target == "vae":  # on the full weights (FSDP: the CPU copy)
                pipe.vae.config.scaling_factor = result["scaling_factor"] = self.fit_scaling_factor(pipe.vae)
            result["final"] = str(pipe.save(out / "final"))
            if ema_full is not None:
                holder = Denoiser(pipe) if s.target == "dit" else Autoencoder(pipe.vae)
                holder.load_state_dict(ema_full, strict=False)
                result["final_ema"] = str(pipe.save(out / "final-ema"))
        return result

    # -------------------------------------------------------------------------------------------------- loop

    def run(self, resume: str | None = None, stop_at: int | None = None) -> dict:
        """Train to the end of the last stage (or to step ``stop_at``: checkpoint and return, to resume later)."""
        s = self.s
        out = Path(s.out)
        path = checkpoints.find_resume(resume, out)
        if path is not None:
            self.resume(path)
        if self.d.main:
            out.mkdir(parents=True, exist_ok=True)
            from vgen.io.atomic import write_text

            write_text(out / "recipe.json", json.dumps(self.recipe, indent=2, default=str))
        logger = Logger(out, self.d.main, s.total_steps, self.step, s.tensorboard)
        first_loss = last_loss = last = None
        final_eval: dict = {}
        try:
            if self.step == 0 and s.eval_every:
                initial = self.evaluate()  # the untrained model's PSNR, the baseline of the curve
                if initial:
                    logger.log({"step": 0, **initial})
            def window() -> dict:  # what a record averages over: the steps since the last one
                return {"samples": 0, "tokens": 0, "data_s": 0.0, "loss": 0.0}

            t0, since, acc = time.perf_counter(), 0, window()
            end = min(s.total_steps, stop_at) if stop_at else s.total_steps
            deadline = time.monotonic() + s.time_limit_s if s.time_limit_s else None
            profiler = StepProfiler(out, s.profile_from, s.profile_steps, enabled=self.d.main)
            timed_out = False
            while self.step < end:
                if deadline is not None and self.d.sum(float(time.monotonic() > deadline)).item() > 0:
                    console.warn(f"time limit of {s.time_limit_s:g} s reached at step {self.step}: finishing")
                    timed_out = True  # ends like a finished run: final weights are written
                    break
                profiler.before(self.step)
                record = self.train_step(lazy=True)  # no wait for the GPU, except when a record is logged
                profiler.after(self.step)
                acc["samples"] += record["samples"]
                acc["tokens"] += record["tokens"]
                acc["data_s"] += record.pop("data_s")
                acc["loss"] = acc["loss"] + record["loss"]  # this rank's, on the device: summed when logged
                last = record
                if first_loss is None:
                    first_loss = self.settle(record)["loss"]
                since += 1
                if s.eval_every and self.step % s.eval_every == 0:
                    final_eval = self.evaluate()
                    record.update(final_eval)
                if since >= s.log_every or self.step == s.total_steps:
                    dt = max(1e-9, time.perf_counter() - t0)
                    record["samples_per_s"] = acc["samples"] / dt
                    record["tokens_per_s"] = acc["tokens"] / dt
                    record["data_wait"] = acc["data_s"] / dt  # share of the time spent waiting for batches
                    self.settle(record)
                    record["loss_mean"] = float(self.d.sum(acc["loss"])) / since  # since the last record: the curve
                    if self.device.type == "cuda":
                        record["gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 1e9
                    logger.log(record)
                    t0, since, acc = time.perf_counter(), 0, window()
                if s.checkpoint_every and self.step % s.checkpoint_every == 0 and self.step < end:
                    self.save_checkpoint()
            if last is not None:
                last_loss = self.settle(last)["loss"]
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

    def close(self) -> None:
        distributed.shutdown(self.d)


def run(s: TrainSettings, resume: str | None = None, recipe: dict | None = None, stop_at: int | None = None) -> dict:
    trainer = Trainer(s, recipe)
    try:
        return trainer.run(resume, stop_at)
    finally:
        trainer.close()


def _after(clip_id: int, group: list[int]):
    """``clip_id``, then the clips that follow it in its bucket's group, wrapping round. Lazy: the group is searched
    only when ``clip_id`` itself is unreadable. Searching it for every sample cost 340 ms a batch of 1024 in a
    group of 32k clips (2-core CPU), on the prefetch thread that shares the GIL with the training loop; H200 steps
    of 1024 clips were ~290 ms with that search (GPU busy 33%), 115 ms before it; with it gone, a 6+6-block model's
    steps took 165 ms (GPU busy 85%)."""
    yield clip_id
    start = group.index(clip_id)
    for k in range(1, len(group)):
        yield group[(start + k) % len(group)]
