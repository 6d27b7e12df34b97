"""Checks run inside each of 2 gloo processes (spawned by test_dist_parallel.py); each returns a dict of numbers
(max differences, losses) that the tests assert on. Every reference is computed in the same process without
collectives."""

from __future__ import annotations

import torch
import torch.distributed as dist

from vgen.distributed.groups import make_groups

TINY_DIT = {"in_channels": 4, "out_channels": 4, "num_attention_heads": 2, "attention_head_dim": 8, "num_layers": 2,
            "num_single_layers": 2, "num_refiner_layers": 1, "mlp_ratio": 2.0, "text_embed_dim": 16,
            "pooled_projection_dim": 8, "rope_axes_dim": [2, 2, 4]}


def tiny_dit(seed: int = 0):
    from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel

    torch.manual_seed(seed)
    model = HunyuanVideoTransformer3DModel(TINY_DIT)
    torch.nn.init.normal_(model.proj_out.weight, std=0.1)  # zero-initialised: the output would be trivially equal
    return model


def dit_inputs(batch: int, grid: tuple[int, int, int], text_lens: list[int] | None, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    t, h, w = grid
    latents = torch.randn(batch, 4, t, 2 * h, 2 * w, generator=g)
    text = torch.randn(batch, 7, 16, generator=g)
    kwargs = dict(hidden_states=latents, timestep=torch.tensor([400.0, 700.0][:batch]), encoder_hidden_states=text,
                  pooled_projections=torch.randn(batch, 8, generator=g), guidance=torch.full((batch,), 6000.0))
    if text_lens is not None:
        kwargs["encoder_attention_mask"] = torch.arange(7)[None] < torch.tensor(text_lens)[:, None]
    return kwargs


def check_ulysses_forward() -> dict:
    """Sequence-parallel output vs single process: odd token count (padding), text padding mask, no mask."""
    from vgen_plugins.hunyuan_video.parallel import sequence_parallel

    model = tiny_dit().eval()
    out = {}
    cases = {"masked_odd_tokens": (2, (3, 3, 3), [4, 7]), "unmasked_even_tokens": (1, (2, 2, 4), None),
             "all_text_valid_mask": (2, (2, 3, 2), [7, 7])}
    with torch.no_grad():
        for name, (batch, grid, lens) in cases.items():
            kwargs = dit_inputs(batch, grid, lens)
            ref = model(**kwargs)
            with sequence_parallel(model, None):
                par = model(**kwargs)
            again = model(**kwargs)  # hooks gone: the plain model again
            out[name] = float((par - ref).abs().max())
            out[name + "_scale"] = float(ref.abs().max())
            out[name + "_after"] = float((again - ref).abs().max())
    return out


def check_ulysses_backward() -> dict:
    """Gradients through the collectives (with activation checkpointing): summed over ranks = single process."""
    from vgen_plugins.hunyuan_video.parallel import sequence_parallel

    kwargs = dit_inputs(2, (3, 3, 3), [4, 7])
    weight = torch.randn(2, 4, 3, 6, 6, generator=torch.Generator().manual_seed(5))

    def grads(parallel: bool):
        model = tiny_dit()
        if parallel:  # backward inside too: checkpointed blocks recompute through the hooks
            with sequence_parallel(model, None, checkpointing=True):
                (model(**kwargs) * weight).sum().backward()
            assert not model.gradient_checkpointing  # as it was before the block
        else:
            (model(**kwargs) * weight).sum().backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    ref = grads(False)
    par = grads(True)
    dist.all_reduce(par)  # every rank computed the full loss: the sum over ranks is world x the gradient
    par /= dist.get_world_size()
    return {"grad_diff": float((par - ref).abs().max()), "grad_scale": float(ref.abs().max())}


def check_pipeline_sequence_parallel() -> dict:
    """``pipe.sequence_parallel(group)`` of the two pipelines that can split (the shapes model's DiT sits inside its
    denoiser, beside a text encoder that runs replicated) vs ``denoise`` in one process."""
    from vgen_plugins.hunyuan_video.pipeline import HunyuanVideoPipeline
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    out = {}
    for name, pipe in (("hunyuan_video", HunyuanVideoPipeline.from_config("tiny")),
                       ("shapes", ShapesPipeline.from_config("tiny"))):
        torch.nn.init.normal_(getattr(pipe.transformer, "dit", pipe.transformer).proj_out.weight, std=0.1)  # not zero
        text = pipe.encode_prompt(["a red circle", "a blue square"])
        x = torch.randn(2, 4, 2, 6, 6, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            ref = pipe.denoise(x, torch.tensor([300.0, 800.0]), text)
            with pipe.sequence_parallel(dist.group.WORLD):
                par = pipe.denoise(x, torch.tensor([300.0, 800.0]), text)
        out[name] = float((par - ref).abs().max())
        out[name + "_scale"] = float(ref.abs().max())
    return out


def check_cfg_parallel() -> dict:
    """CFG-parallel (cond on rank 0, uncond on rank 1) vs batched CFG in one process."""
    from vgen_plugins.hunyuan_video.pipeline import HunyuanVideoPipeline

    from vgen.distributed.batch import cfg_parallel
    from vgen.flow.guidance import GuidedVelocity

    pipe = HunyuanVideoPipeline.from_config("tiny")
    cond = pipe.encode_prompt(["a red ball bouncing on grass"])
    uncond = pipe.encode_prompt(["blurry"])
    x = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    sigma = torch.tensor(0.7)
    ref = GuidedVelocity(pipe, cond, uncond, scale=5.0, embedded=6.0, batch=True)(x, sigma)
    groups = make_groups("cfg")
    calls = []
    original = pipe.denoise
    pipe.denoise = lambda latents, *a, **k: (calls.append(latents.shape[0]), original(latents, *a, **k))[1]
    with cfg_parallel(pipe, groups.cfg):
        par = GuidedVelocity(pipe, cond, uncond, scale=5.0, embedded=6.0, batch=True)(x, sigma)
    return {"cfg_diff": float((par - ref).abs().max()), "cfg_scale": float(ref.abs().max()),
            "local_batch": calls[0]}


def check_vae_tiles() -> dict:
    """VAE tiled decode with tiles over 2 ranks vs single-process tiled decode."""
    from vgen_plugins.hunyuan_video.vae import AutoencoderKLHunyuanVideo

    from vgen.distributed.vae import distributed_decode, tiles_over_ranks

    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo({"latent_channels": 4, "block_out_channels": [8, 8, 8, 8],
                                     "layers_per_block": 1, "norm_num_groups": 4}).eval()
    vae.enable_tiling(tile_sample_min_height=32, tile_sample_min_width=32, tile_sample_stride_height=24,
                      tile_sample_stride_width=24, tile_sample_min_num_frames=8, tile_sample_stride_num_frames=4)
    z = torch.randn(1, 4, 4, 6, 6, generator=torch.Generator().manual_seed(4))
    tiles = []
    hook = vae.decoder.register_forward_hook(lambda m, a, o: tiles.append(1))
    with torch.no_grad():
        ref = vae.decode(z)
    n_tiles = len(tiles)
    tiles.clear()
    par = distributed_decode(vae, z)
    local_tiles = len(tiles)
    with tiles_over_ranks(vae, dist.group.WORLD):
        par2 = vae.decode(z)
    hook.remove()
    return {"vae_diff": float((par - ref).abs().max()), "vae_diff_ctx": float((par2 - ref).abs().max()),
            "vae_shape_ok": int(par.shape == ref.shape), "tiles": n_tiles, "local_tiles": local_tiles}


def check_fsdp2_training() -> dict:
    """vgen.train.distributed's FSDP2 wrapping (+ activation checkpointing) of the tiny DiT: per-step losses of a
    2-rank run (1 sample each) vs one process on the 2-sample batch."""
    from vgen.train.distributed import Dist, checkpoint_activations, wrap

    rank, world = dist.get_rank(), dist.get_world_size()
    kwargs = dit_inputs(2, (2, 2, 2), [4, 7])
    target = torch.randn(2, 4, 2, 4, 4, generator=torch.Generator().manual_seed(9))

    def train(model, part: slice, steps: int = 3):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        losses = []
        for _ in range(steps):
            args = {k: v[part] for k, v in kwargs.items()}
            loss = torch.nn.functional.mse_loss(model(**args), target[part])
            loss.backward()
            opt.step()
            opt.zero_grad()
            value = loss.detach().clone()
            if model is not None and part != slice(None):
                dist.all_reduce(value)
                value /= world
            losses.append(float(value))
        return losses

    ref = train(tiny_dit(), slice(None))
    model = tiny_dit()
    checkpoint_activations(model)
    model = wrap(model, Dist(rank, world, rank, "fsdp"), torch.device("cpu"), mixed_bf16=False)
    from torch.distributed.tensor import DTensor

    sharded = all(isinstance(p, DTensor) for p in model.parameters())
    par = train(model, slice(rank, rank + 1))
    return {"fsdp_diff": max(abs(a - b) for a, b in zip(par, ref, strict=True)), "fsdp_sharded": int(sharded),
            "losses_ref": ref, "losses_fsdp": par}


CHECKS = {"ulysses_forward": check_ulysses_forward, "ulysses_backward": check_ulysses_backward,
          "pipeline_sequence_parallel": check_pipeline_sequence_parallel,
          "cfg_parallel": check_cfg_parallel, "vae_tiles": check_vae_tiles, "fsdp2_training": check_fsdp2_training}


def worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    """One process: join the gloo group, run every check, write rank<N>.json ({check: result or error})."""
    import json
    import os
    import traceback

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception:  # the test prints it: one failing check must not hide the others
            results[name] = {"error": traceback.format_exc()}
        dist.barrier()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(results, f)
    dist.destroy_process_group()
