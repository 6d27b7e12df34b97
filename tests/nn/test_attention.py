"""The attention switch: backends agree, masks, backend selection, the flash path's varlen packing."""

import importlib.machinery
import sys
import types

import pytest
import torch

from vgen.errors import UserError
from vgen.nn.attention import (
    attention,
    attention_backend,
    available_backends,
    get_attention_backend,
    set_attention_backend,
)


def _qkv(b=2, h=3, lq=10, lk=10, d=8):
    # (B, L, H, D) storage seen as (B, H, L, D), like the models pass them
    return [torch.randn(b, n, h, d).transpose(1, 2) for n in (lq, lk, lk)]


def _reference(q, k, v, mask=None):
    scores = torch.einsum("bhqd,bhkd->bhqk", q.double(), k.double()) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.einsum("bhqk,bhkd->bhqd", scores.softmax(-1), v.double()).float()


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def test_backends_agree_without_and_with_key_padding_mask():
    q, k, v = _qkv(lq=7, lk=10)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[0, 6:] = False  # different padding per sample
    mask[1, 3:] = False
    for m in (None, mask):
        ref = _reference(q, k, v, None if m is None else m[:, None, None])
        for name in ("sdpa", "math"):
            assert _rel(attention(q, k, v, m, backend=name), ref) < 1e-5, name
    # padded keys really are ignored: changing them changes nothing
    k2, v2 = k.clone(), v.clone()
    k2[1, :, 3:] += 5
    v2[1, :, 3:] -= 7
    assert torch.allclose(attention(q, k, v, mask), attention(q, k2, v2, mask), atol=1e-6)


def test_full_masks_broadcast_for_sdpa_and_math():
    q, k, v = _qkv()
    mask = torch.rand(2, 1, 10, 10) > 0.3
    mask[..., 0] = True  # no empty rows
    ref = _reference(q, k, v, mask)
    assert _rel(attention(q, k, v, mask, backend="sdpa"), ref) < 1e-5
    assert _rel(attention(q, k, v, mask, backend="math"), ref) < 1e-5


def test_non_boolean_mask_refused():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="boolean"):
        attention(q, k, v, torch.ones(2, 10))


def test_selection_context_manager_and_errors():
    assert get_attention_backend() == "sdpa"
    assert {"sdpa", "math"} <= set(available_backends())
    with attention_backend("math"):
        assert get_attention_backend() == "math"
    assert get_attention_backend() == "sdpa"
    set_attention_backend("math")
    try:
        assert get_attention_backend() == "math"
    finally:
        set_attention_backend("sdpa")
    with pytest.raises(UserError, match="unknown attention backend 'xformers'; known: sdpa, math, flash"):
        set_attention_backend("xformers")
    if "flash" not in available_backends():
        with pytest.raises(UserError, match="flash-attn"):
            attention(*_qkv(), backend="flash")


def _fake_flash_attn():
    """A stand-in flash_attn package (math on CPU) to check the (B, L, H, D) layout and the varlen packing."""

    def flash_attn_func(q, k, v):
        return _reference(*(t.transpose(1, 2) for t in (q, k, v))).transpose(1, 2)

    def flash_attn_varlen_func(q, k, v, cu_q, cu_k, max_q, max_k):
        assert q.dim() == k.dim() == 3 and cu_q.dtype == cu_k.dtype == torch.int32
        assert max_k == int((cu_k[1:] - cu_k[:-1]).max())
        out = torch.empty_like(q)
        for i in range(len(cu_q) - 1):
            qs, ks = slice(cu_q[i], cu_q[i + 1]), slice(cu_k[i], cu_k[i + 1])
            out[qs] = _reference(*(t[None].transpose(1, 2) for t in (q[qs], k[ks], v[ks])))[0].transpose(0, 1)
        return out

    module = types.ModuleType("flash_attn")
    module.__spec__ = importlib.machinery.ModuleSpec("flash_attn", None)
    module.flash_attn_func, module.flash_attn_varlen_func = flash_attn_func, flash_attn_varlen_func
    return module


def test_flash_path_matches_math_with_fake_kernel(monkeypatch):
    monkeypatch.setitem(sys.modules, "flash_attn", _fake_flash_attn())
    assert "flash" in available_backends()
    q, k, v = _qkv(lq=7, lk=9)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[0, 5:] = False
    mask[1, 2] = False  # not only trailing padding
    with attention_backend("flash"):
        out_plain, out_masked = attention(q, k, v), attention(q, k, v, mask[:, None, None])
    assert _rel(out_plain, attention(q, k, v, backend="math")) < 1e-5
    assert _rel(out_masked, attention(q, k, v, mask, backend="math")) < 1e-5
    with pytest.raises(ValueError, match="key-padding"):
        attention(q, k, v, torch.ones(2, 1, 7, 9, dtype=torch.bool), backend="flash")
