"""A trained HunyuanVideo DiT at another spatial patch size: the state-dict adapter for changing token resolution.

Why: a small model trained at patch 2 sees a 64x64 clip as 4x4 tokens a frame, too coarse to draw a 13-pixel
triangle; patch 1 gives 8x8. Retraining from scratch throws away everything the blocks learned (text, colour,
motion), so the finer model starts from the coarse one, as resolution-progressive DiT training does. Only two
layers see patches: the patch embedding (a Conv3d whose kernel is the patch) and the output projection (one output
per latent pixel of the patch). The blocks, RoPE and conditioning are per token and carry over unchanged.

Coarse -> fine (patch p -> q, r = p / q): the new kernel sums the old kernel over each r x r block of taps, so a
latent that is constant over an old patch embeds exactly as before; each new output pixel is the mean of the old
outputs it covers. Fine -> coarse (r = q / p) is the reverse: kernel taps repeated / r^2, outputs repeated.
"""

from __future__ import annotations

import copy

import torch

from vgen.errors import UserError


def _kernel(weight: torch.Tensor, old: int, new: int) -> torch.Tensor:
    """Conv3d weight (width, C, pt, old, old) -> (width, C, pt, new, new)."""
    o, c, t = weight.shape[:3]
    if old > new:
        r = old // new
        return weight.reshape(o, c, t, new, r, new, r).sum(dim=(4, 6))
    r = new // old
    return weight.repeat_interleave(r, dim=3).repeat_interleave(r, dim=4) / (r * r)


def _outputs(rows: torch.Tensor, channels: int, pt: int, old: int, new: int) -> torch.Tensor:
    """proj_out rows ordered (C, pt, old, old) [+ trailing input dim] -> rows ordered (C, pt, new, new)."""
    tail = rows.shape[1:]
    grid = rows.reshape(channels, pt, old, old, *tail)
    if old > new:
        r = old // new
        grid = grid.reshape(channels, pt, new, r, new, r, *tail).mean(dim=(3, 5))
    else:
        r = new // old
        grid = grid.repeat_interleave(r, dim=2).repeat_interleave(r, dim=3)
    return grid.reshape(channels * pt * new * new, *tail)


def repatch(model, patch_size: int):
    """A new HunyuanVideoTransformer3DModel with spatial ``patch_size``, its weights adapted from ``model``'s."""
    cfg = model.config
    old = cfg.patch_size
    if patch_size == old:
        return model
    if patch_size < 1 or max(old, patch_size) % min(old, patch_size):
        raise UserError(f"cannot repatch a patch-{old} DiT to patch {patch_size}: one must divide the other")
    new_cfg = copy.deepcopy(cfg)
    new_cfg.patch_size = patch_size
    weight = model.x_embedder.proj.weight
    with torch.device(weight.device):
        new = type(model)(new_cfg).to(weight.dtype)
    state = dict(model.state_dict())
    state["x_embedder.proj.weight"] = _kernel(state["x_embedder.proj.weight"], old, patch_size)
    for name in ("proj_out.weight", "proj_out.bias"):
        state[name] = _outputs(state[name], cfg.out_channels, cfg.patch_size_t, old, patch_size)
    new.load_state_dict(state, strict=True)
    return new.train(model.training).requires_grad_(any(p.requires_grad for p in model.parameters()))
