"""MovieGen DiT: gradients reach every weight, position tables grow, the 30B config's size, one-line errors."""

import pytest
import torch
from vgen_plugins.moviegen.transformer import MovieGenTransformer, MovieGenTransformerConfig

from vgen.errors import UserError

TINY = dict(in_channels=4, out_channels=4, hidden_size=32, num_layers=2, num_attention_heads=4, ffn_dim=48,
            max_positions=[2, 4, 4], text_dims={"ul2": 12, "byt5": 8, "metaclip": 10})


def _text(batch=2, seed=0, quoted=False):
    g = torch.Generator().manual_seed(seed)
    text = {name: torch.randn(batch, n, dim, generator=g) for name, n, dim in (("ul2", 5, 12), ("byt5", 3, 8),
                                                                                ("metaclip", 4, 10))}
    text["ul2_mask"] = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    text["ul2_mask"] = text["ul2_mask"][:batch]
    text["byt5_mask"] = torch.full((batch, 3), int(quoted))  # quoted text, or none
    return text


def test_gradients_reach_every_weight():
    torch.manual_seed(0)
    dit = MovieGenTransformer(TINY)
    x = torch.randn(2, 4, 2, 8, 8)
    out = dit(x, torch.tensor([100.0, 900.0]), **_text(quoted=True))
    assert out.shape == x.shape
    out.pow(2).mean().backward()
    dead = [n for n, p in dit.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead


def test_text_padding_is_ignored():
    torch.manual_seed(0)
    dit = MovieGenTransformer(TINY).eval()
    text = _text()
    x = torch.randn(2, 4, 1, 4, 4)
    with torch.no_grad():
        ref = dit(x, torch.tensor([500.0, 500.0]), **text)
        text["ul2"][0, 3:] = 100.0  # padded positions of sample 0
        text["byt5"] += 7.0  # all masked
        assert torch.equal(dit(x, torch.tensor([500.0, 500.0]), **text), ref)


def test_position_tables_grow_with_the_video():
    torch.manual_seed(0)
    dit = MovieGenTransformer(TINY).eval()
    x = torch.randn(1, 4, 3, 12, 8)  # 3 x 6 x 4 tokens: beyond the 2 x 4 x 4 tables
    t = torch.tensor([400.0])
    text = {k: v[:1] for k, v in _text().items()}
    with torch.no_grad():
        grown = dit(x, t, **text)
        dit.resize_positions((3, 6, 4))
        assert dit.positions.t.shape[0] == 3 and dit.positions.h.shape[0] == 6 and dit.positions.w.shape[0] == 4
        assert dit.config.max_positions == (3, 6, 4)
        torch.testing.assert_close(dit(x, t, **text), grown)


def test_checkpointing_gives_the_same_gradients():
    grads = []
    for ckpt in (False, True):
        torch.manual_seed(0)
        dit = MovieGenTransformer(TINY)
        dit.gradient_checkpointing = ckpt
        dit(torch.ones(1, 4, 1, 4, 4), torch.tensor([300.0]), **{k: v[:1] for k, v in _text().items()}).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in dit.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


def test_30b_config_on_meta():
    with torch.device("meta"):
        dit = MovieGenTransformer(MovieGenTransformerConfig())
    n = dit.num_parameters()
    assert 29.0e9 < n < 30.5e9  # the paper's "30B": 48 x (self + cross attention + SwiGLU) = 29.0B, + embeddings


def test_errors_are_one_line():
    dit = MovieGenTransformer(TINY)
    with pytest.raises(UserError, match="not a multiple of the patch"):
        dit(torch.zeros(1, 4, 1, 3, 4), torch.tensor([1.0]), **_text(1))
    with pytest.raises(UserError, match="needs the byt5 text states"):
        dit(torch.zeros(1, 4, 1, 4, 4), torch.tensor([1.0]), ul2=torch.zeros(1, 2, 12))
    with pytest.raises(UserError, match="unknown MovieGen transformer config keys: depth"):
        MovieGenTransformer({"depth": 3})
