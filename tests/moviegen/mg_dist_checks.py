"""Run inside each of 2 gloo processes (spawned by test_mg_parallel.py): the MovieGen DiT split over the group
through ``pipe.sequence_parallel``, and sharded by vgen.train's FSDP2 wrapping, against one process."""

from __future__ import annotations

import torch
import torch.distributed as dist


def _pipe():
    from vgen_plugins.moviegen.pipeline import MovieGenPipeline

    pipe = MovieGenPipeline.from_config("tiny")
    torch.manual_seed(3)
    for p in pipe.transformer.parameters():  # every weight random and not tiny: nothing is trivially equal
        torch.nn.init.normal_(p, std=0.2)
    return pipe


def _inputs(pipe, frames: int):
    g = torch.Generator().manual_seed(1)
    text = pipe.encode_prompt(["a red circle moving right", 'a sign that reads "STOP"'])
    x = torch.randn(2, 4, frames, 6, 8, generator=g)  # 3x4 tokens a frame: odd counts need padding over 2 ranks
    return x, torch.tensor([300.0, 800.0]), text


def check_forward() -> dict:
    pipe = _pipe()
    out = {}
    with torch.no_grad():
        for frames in (1, 3):
            x, t, text = _inputs(pipe, frames)
            ref = pipe.denoise(x, t, text)
            with pipe.sequence_parallel(dist.group.WORLD):
                par = pipe.denoise(x, t, text)
            out[f"diff_{frames}"] = float((par - ref).abs().max())
            out[f"scale_{frames}"] = float(ref.abs().max())
    return out


def check_backward() -> dict:
    """Gradients with activation checkpointing through the context: summed over ranks / world = one process."""
    x, t, text = _inputs(_pipe(), 3)
    weight = torch.randn(2, 4, 3, 6, 8, generator=torch.Generator().manual_seed(5))

    def grads(parallel: bool):
        pipe = _pipe()
        dit = pipe.transformer.requires_grad_(True)
        if parallel:
            with pipe.sequence_parallel(dist.group.WORLD, checkpointing=True):
                (pipe.denoise(x, t, text) * weight).sum().backward()
            assert not dit.gradient_checkpointing
        else:
            (pipe.denoise(x, t, text) * weight).sum().backward()
        return torch.cat([p.grad.flatten() for p in dit.parameters()])

    ref, par = grads(False), grads(True)
    dist.all_reduce(par)
    par /= dist.get_world_size()
    return {"grad_diff": float((par - ref).abs().max()), "grad_scale": float(ref.abs().max())}


def check_fsdp2() -> dict:
    """vgen.train's FSDP2 wrapping (+ activation checkpointing) of the DiT: per-step losses of a 2-rank run (1 sample
    each) vs one process on the 2-sample batch."""
    from vgen.train.distributed import Dist, checkpoint_activations, wrap

    rank, world = dist.get_rank(), dist.get_world_size()
    x, t, text = _inputs(_pipe(), 1)
    target = torch.randn(2, 4, 1, 6, 8, generator=torch.Generator().manual_seed(9))

    def train(dit, part: slice):
        opt = torch.optim.AdamW(dit.parameters(), lr=1e-3)
        losses = []
        for _ in range(3):
            loss = torch.nn.functional.mse_loss(dit(x[part], t[part], **{k: v[part] for k, v in text.items()}),
                                                target[part])
            loss.backward()
            opt.step()
            opt.zero_grad()
            value = loss.detach().clone()
            if part != slice(None):
                dist.all_reduce(value)
                value /= world
            losses.append(float(value))
        return losses

    ref = train(_pipe().transformer.requires_grad_(True), slice(None))
    dit = _pipe().transformer.requires_grad_(True)
    checkpoint_activations(dit)
    dit = wrap(dit, Dist(rank, world, rank, "fsdp"), torch.device("cpu"), mixed_bf16=False)
    from torch.distributed.tensor import DTensor

    sharded = all(isinstance(p, DTensor) for p in dit.parameters())
    par = train(dit, slice(rank, rank + 1))
    return {"diff": max(abs(a - b) for a, b in zip(par, ref, strict=True)), "sharded": int(sharded),
            "first": ref[0], "last": ref[-1]}


def worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import json
    import os
    import traceback

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    results = {}
    for name, check in (("forward", check_forward), ("backward", check_backward), ("fsdp2", check_fsdp2)):
        try:
            results[name] = check()
        except Exception:  # the test prints it
            results[name] = {"error": traceback.format_exc()}
        dist.barrier()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(results, f)
    dist.destroy_process_group()
