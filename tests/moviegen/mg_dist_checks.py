"""Run inside each of 2 gloo processes (spawned by test_mg_parallel.py): the MovieGen DiT split over the group
through ``pipe.sequence_parallel`` against the same process without it."""

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


def worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import json
    import os
    import traceback

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    results = {}
    for name, check in (("forward", check_forward), ("backward", check_backward)):
        try:
            results[name] = check()
        except Exception:  # the test prints it
            results[name] = {"error": traceback.format_exc()}
        dist.barrier()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(results, f)
    dist.destroy_process_group()
