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


def _regrid(x: torch.Tensor, axis: int, old: int, new: int) -> torch.Tensor:
    """Dims ``axis, axis + 1`` (a patch's old x old pixels) -> new x new: the mean over each r x r block when the
    patch shrinks, each entry repeated r x r times when it grows."""
    if old > new:
        r = old // new
        return x.reshape(*x.shape[:axis], new, r, new, r, *x.shape[axis + 2:]).mean(dim=(axis + 1, axis + 3))
    r = new // old
    return x.repeat_interleave(r, dim=axis).repeat_interleave(r, dim=axis + 1)


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
    # Conv3d kernel (width, C, pt, p, p): the block mean times r^2 is the block sum (shrink), repeats / r^2 (grow)
    kernel = state["x_embedder.proj.weight"]
    state["x_embedder.proj.weight"] = _regrid(kernel, 3, old, patch_size) * (old / patch_size) ** 2
    for name in ("proj_out.weight", "proj_out.bias"):  # rows ordered (C, pt, p, p) [x width]
        rows = state[name]
        grid = _regrid(rows.reshape(cfg.out_channels, cfg.patch_size_t, old, old, *rows.shape[1:]), 2, old, patch_size)
        state[name] = grid.reshape(-1, *rows.shape[1:])
    new.load_state_dict(state, strict=True)
    return new.train(model.training).requires_grad_(any(p.requires_grad for p in model.parameters()))
