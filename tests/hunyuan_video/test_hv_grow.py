"""Making a trained DiT deeper: the new blocks start as the identity, so the grown model computes what it did."""

import pytest
import torch
from test_hv_repatch import tiny
from vgen_plugins.hunyuan_video.grow import grow

from vgen.errors import UserError


def inputs():
    torch.manual_seed(1)
    return (torch.randn(2, 4, 2, 4, 4), torch.tensor([500.0, 20.0]), torch.randn(2, 6, 32),
            torch.tensor([[1.0] * 6, [1.0] * 4 + [0.0] * 2]), torch.randn(2, 32))


def test_grown_model_computes_what_the_trained_one_did():
    model = tiny(1)
    with torch.no_grad():  # a trained model: no zero gates anywhere
        for p in model.parameters():
            p.normal_(0, 0.2)
    deeper = grow(model, dual=2, single=1)
    assert (deeper.config.num_layers, deeper.config.num_single_layers) == (3, 2)
    assert (model.config.num_layers, model.config.num_single_layers) == (1, 1)
    with torch.no_grad():
        torch.testing.assert_close(deeper(*inputs()), model(*inputs()), rtol=0, atol=0)
    state = deeper.state_dict()
    for name, value in model.state_dict().items():
        assert torch.equal(state[name], value), name


def test_new_blocks_learn_from_the_first_step():
    model = tiny(1)
    deeper = grow(model, dual=1, single=1).train()
    deeper(*inputs()).square().mean().backward()
    for block in (deeper.transformer_blocks[1], deeper.single_transformer_blocks[1]):
        gate = block.norm1 if hasattr(block, "norm1_context") else block.norm
        assert gate.linear.weight.grad.abs().sum() > 0  # the gates open; the rest follows once they do


def test_grow_refuses_nothing_to_add():
    with pytest.raises(UserError, match="grow adds blocks"):
        grow(tiny(1))
