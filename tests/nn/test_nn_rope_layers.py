"""3D RoPE and the shared layers against written-out references (and diffusers' helpers where they exist)."""

import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed, get_timestep_embedding

from vgen.nn.layers import FeedForward, gated_add, modulate, timestep_embedding
from vgen.nn.rope import apply_rope, pad_rope, rope_3d


def _reference_rope(x, grid, axes_dim, theta):
    """Repeat-interleaved cos/sin per axis, out = x * cos + rotate_pairs(x) * sin (x: (B, L, H, D))."""
    pos = torch.stack(torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in grid), indexing="ij"))
    cos, sin = zip(*(get_1d_rotary_pos_embed(d, pos[i].reshape(-1), theta, use_real=True)
                     for i, d in enumerate(axes_dim)), strict=True)
    cos, sin = torch.cat(cos, 1)[:, None], torch.cat(sin, 1)[:, None]
    even, odd = x.unflatten(-1, (-1, 2)).unbind(-1)
    rotated = torch.stack([-odd, even], -1).flatten(-2)
    return x * cos + rotated * sin


def test_rope_matches_repeat_interleaved_reference_and_compiled_form(monkeypatch):
    grid, axes, theta = (3, 5, 4), (4, 6, 6), 256.0
    x = torch.randn(2, 60, 3, 16)
    rope = rope_3d(grid, axes, theta)[:, None]
    assert rope.shape == (60, 1, 8, 2)
    ref = _reference_rope(x, grid, axes, theta)
    eager = apply_rope(x, rope)
    assert (eager - ref).abs().max() < 1e-5
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)  # the real-arithmetic form used by Inductor
    assert (apply_rope(x, rope) - ref).abs().max() < 1e-5
    # position 0 is the identity; so are the padded rows
    assert torch.equal(eager[:, 0], x[:, 0])
    padded = pad_rope(rope_3d(grid, axes, theta), 4)[:, None]
    y = torch.randn(2, 64, 3, 16)
    assert torch.equal(apply_rope(y, padded)[:, 60:], y[:, 60:])


def test_rope_keeps_dtype_and_uses_float32_inside():
    x = torch.randn(1, 12, 2, 8, dtype=torch.bfloat16)
    rope = rope_3d((1, 3, 4), (2, 2, 4), 256.0)[:, None]
    out = apply_rope(x, rope)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, apply_rope(x.float(), rope).bfloat16())


def test_timestep_embedding_matches_diffusers():
    t = torch.tensor([0.0, 1.5, 500.0, 999.0])
    ref = get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0)
    assert torch.equal(timestep_embedding(t, 256), ref)


def test_fused_modulation_and_feed_forward_keys():
    x, shift, scale, gate = torch.randn(2, 5, 8), torch.randn(2, 1, 8), torch.randn(2, 1, 8), torch.randn(2, 1, 8)
    assert torch.allclose(modulate(x, shift, scale), x * (1 + scale) + shift, atol=1e-6)
    assert torch.allclose(gated_add(x, gate, 2 * x), x + gate * 2 * x, atol=1e-6)
    assert set(FeedForward(8, 32).state_dict()) == {"net.0.proj.weight", "net.0.proj.bias", "net.2.weight",
                                                    "net.2.bias"}
