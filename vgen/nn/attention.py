"""One switch for every attention call in vgen's models.

``attention(q, k, v, mask=None, backend=None)`` takes q, k, v laid out as (batch, heads, tokens, head_dim) and
returns the same layout. The tensors may be strided views (e.g. ``x.view(B, L, H, D).transpose(1, 2)``): every
backend accepts them without a copy, so models can project to (B, L, H*D) and only transpose views.

``mask`` is boolean, True where attention is allowed: either a key-padding mask (B, Lk) -- the common case, text
padding -- or anything that broadcasts to (B, heads, Lq, Lk) (sdpa and math only).

Backends:
- ``sdpa`` (default): ``torch.nn.functional.scaled_dot_product_attention``; torch picks flash / memory-efficient /
  cuDNN kernels itself (flash only when there is no mask, which is why models pass ``mask=None`` when nothing is
  padded).
- ``math``: softmax(q k^T / sqrt(d)) v written out in float32; the reference the others are tested against.
- ``flash``: the ``flash_attn`` package (fp16/bf16 on CUDA); key-padding masks go through its varlen kernel.

Choose one with ``set_attention_backend(name)``, for a block of code with ``with attention_backend(name):``, or per
call with ``backend=``.

``with attention_override(fn):`` routes every call through ``fn(q, k, v, mask, backend_name)`` instead, e.g. to run
it sequence-parallel (vgen.distributed.ulysses); ``fn`` computes its local attention with ``local_attention``.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from vgen.errors import UserError

BACKENDS = ("sdpa", "math", "flash")
_backend = "sdpa"
_override = None  # set by attention_override: a callable(q, k, v, mask, backend_name) that takes every call


def available_backends() -> list[str]:
    """The backends that can run here (flash only when the flash_attn package is installed)."""
    names = ["sdpa", "math"]
    if importlib.util.find_spec("flash_attn") is not None:
        names.append("flash")
    return names


def _check(name: str) -> str:
    if name not in BACKENDS:
        raise UserError(f"unknown attention backend {name!r}; known: {', '.join(BACKENDS)}")
    if name not in available_backends():
        raise UserError(f"attention backend {name!r} needs the flash-attn package (pip install flash-attn)")
    return name


def set_attention_backend(name: str) -> None:
    """Make ``name`` the backend of every later ``attention`` call that does not name one."""
    global _backend
    _backend = _check(name)


def get_attention_backend() -> str:
    return _backend


@contextmanager
def attention_backend(name: str) -> Iterator[None]:
    """``with attention_backend("math"): ...`` -- the backend for the block, restored afterwards."""
    global _backend
    previous, _backend = _backend, _check(name)
    try:
        yield
    finally:
        _backend = previous


@contextmanager
def attention_override(fn) -> Iterator[None]:
    """``with attention_override(fn):`` every ``attention`` call in the block goes to ``fn(q, k, v, mask, name)``."""
    global _override
    previous, _override = _override, fn
    try:
        yield
    finally:
        _override = previous


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
              backend: str | None = None) -> torch.Tensor:
    """Scaled dot-product attention of (B, H, L, D) tensors; ``mask`` True = may attend (see the module doc)."""
    name = _backend if backend is None else _check(backend)
    if _override is not None:
        return _override(q, k, v, mask, name)
    return local_attention(q, k, v, mask, name)


def local_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                    name: str) -> torch.Tensor:
    """``attention`` with backend ``name`` on this process's tensors, never overridden."""
    if name == "sdpa":
        mask = _broadcastable(mask)
        if mask is not None and torch.onnx.is_in_onnx_export():
            # opset >= 23 exports SDPA as ONNX Attention, whose onnxruntime kernel takes no mask broadcast over the
            # queries ("inconsistent q_sequence_length"): spell out (B, 1, Lq, Lk)
            mask = mask.expand(mask.shape[0], mask.shape[1], q.shape[2], mask.shape[3])
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if name == "math":
        return _math_attention(q, k, v, _broadcastable(mask))
    return _flash_attention(q, k, v, mask)


def _broadcastable(mask: torch.Tensor | None) -> torch.Tensor | None:
    """A (B, Lk) key-padding mask as (B, 1, 1, Lk); other masks as they are."""
    if mask is None:
        return None
    if mask.dtype != torch.bool:
        raise ValueError(f"attention masks are boolean (True = attend), got {mask.dtype}")
    return mask[:, None, None, :] if mask.dim() == 2 else mask


def _math_attention(q, k, v, mask):
    scores = q.float() @ k.float().transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(dim=-1) @ v.float()).to(q.dtype)


def _key_padding(mask: torch.Tensor, batch: int, keys: int) -> torch.Tensor:
    """A key-padding mask (B, Lk) from (B, Lk) or (B, 1, 1, Lk); the flash backend supports nothing else."""
    if mask.dtype != torch.bool:
        raise ValueError(f"attention masks are boolean (True = attend), got {mask.dtype}")
    if mask.dim() == 4 and mask.shape[1] == 1 and mask.shape[2] == 1:
        mask = mask[:, 0, 0]
    if mask.dim() != 2:
        raise ValueError(f"the flash backend supports key-padding masks (B, Lk) only, got shape {tuple(mask.shape)}")
    return mask.expand(batch, keys)


def _flash_attention(q, k, v, mask):
    from flash_attn import flash_attn_func, flash_attn_varlen_func

    # flash_attn wants (B, L, H, D); our inputs are usually transposed views of exactly that, so this is free
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    if mask is None:
        return flash_attn_func(q, k, v).transpose(1, 2)
    batch, q_len, heads, dim = q.shape
    keep = _key_padding(mask, batch, k.shape[1])
    # varlen: every query row of a sample attends to that sample's kept keys, packed back to back
    k_lens = keep.sum(dim=1, dtype=torch.int32)
    cu_k = F.pad(k_lens.cumsum(0, dtype=torch.int32), (1, 0))
    cu_q = torch.arange(0, (batch + 1) * q_len, q_len, dtype=torch.int32, device=q.device)
    out = flash_attn_varlen_func(q.reshape(batch * q_len, heads, dim), k[keep], v[keep], cu_q, cu_k,
                                 q_len, int(k_lens.max()))
    return out.view(batch, q_len, heads, dim).transpose(1, 2)
