"""A trained HunyuanVideo DiT made deeper: new dual- and single-stream blocks that start as the identity.

Why: a small model that has learnt its world (text, colour, motion) may lack the capacity for the hard cases (two
objects bound to their words); training a deeper one from scratch throws that away. Every block of this DiT adds
its attention and MLP outputs through adaLN gates computed from the conditioning vector (``gated_add``), so a block
whose modulation linear is zero has gates of zero and passes its input through unchanged (DiT's adaLN-Zero). New
blocks go after the existing ones of their stack with that linear zeroed: the grown model computes exactly what the
trained one did, and training opens the gates from there.
"""

from __future__ import annotations

import copy

import torch

from vgen.errors import UserError


def grow(model, dual: int = 0, single: int = 0):
    """A new HunyuanVideoTransformer3DModel with ``dual`` more dual-stream and ``single`` more single-stream blocks
    (appended, identity at start); every weight of ``model`` carries over."""
    if dual < 0 or single < 0 or dual + single == 0:
        raise UserError(f"grow adds blocks: got {dual} dual-stream and {single} single-stream")
    cfg = copy.deepcopy(model.config)
    cfg.num_layers += dual
    cfg.num_single_layers += single
    weight = model.x_embedder.proj.weight
    with torch.device(weight.device):
        new = type(model)(cfg).to(weight.dtype)
    new.load_state_dict(model.state_dict(), strict=False)  # missing: only the new blocks, which stay as built
    added = ([new.transformer_blocks[i] for i in range(model.config.num_layers, cfg.num_layers)]
             + [new.single_transformer_blocks[i] for i in range(model.config.num_single_layers, cfg.num_single_layers)])
    with torch.no_grad():
        for block in added:
            for mod in (block.norm1, block.norm1_context) if hasattr(block, "norm1_context") else (block.norm,):
                mod.linear.weight.zero_()
                mod.linear.bias.zero_()
    return new.train(model.training).requires_grad_(any(p.requires_grad for p in model.parameters()))
