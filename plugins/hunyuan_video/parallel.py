"""How the HunyuanVideo DiT splits over a process group: where vgen.distributed.ulysses shards and gathers its tokens.

The video tokens are the patch embedding's output (``x_embedder``) and come back through the final projection
(``proj_out``); the dual-stream blocks take (x, c, cond, rope, mask) and the single-stream ones (x, cond, rope,
mask), so the RoPE table is argument 3 of the first and 2 of the second. The token refiner (text only) runs
replicated. Pipelines built on this DiT (hunyuan-video, shapes) use ``sequence_parallel``.
"""

from __future__ import annotations

import torch

from vgen.distributed.ulysses import SequenceSplit
from vgen.distributed.ulysses import sequence_parallel as ulysses_sequence_parallel


def sequence_split(dit: torch.nn.Module) -> SequenceSplit:
    """The split points of a ``HunyuanVideoTransformer3DModel``."""
    blocks = [(block, 3) for block in dit.transformer_blocks] + [(block, 2) for block in dit.single_transformer_blocks]
    return SequenceSplit(embed=dit.x_embedder, out=dit.proj_out, blocks=blocks)


def sequence_parallel(dit: torch.nn.Module, group, checkpointing: bool = False):
    """Inside: ``dit`` runs Ulysses sequence-parallel over ``group`` (None: the world), with its own activation
    checkpointing when ``checkpointing`` (vgen.distributed.ulysses.sequence_parallel)."""
    return ulysses_sequence_parallel(dit, group, sequence_split(dit), checkpointing)
