"""Changing a trained DiT's patch size: the state-dict adapter keeps what the blocks learned."""

import pytest
import torch
from vgen_plugins.hunyuan_video.repatch import repatch
from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel, HunyuanVideoTransformerConfig

from vgen.errors import UserError


def tiny(patch: int) -> HunyuanVideoTransformer3DModel:
    torch.manual_seed(0)
    cfg = HunyuanVideoTransformerConfig(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=16,
                                        num_layers=1, num_single_layers=1, num_refiner_layers=1, patch_size=patch,
                                        text_embed_dim=32, pooled_projection_dim=32, rope_axes_dim=(4, 6, 6),
                                        guidance_embeds=False)
    model = HunyuanVideoTransformer3DModel(cfg).eval()
    torch.nn.init.normal_(model.proj_out.weight)  # trained, not the zero init
    torch.nn.init.normal_(model.proj_out.bias)
    return model


def test_coarse_to_fine_keeps_embedding_and_output_means():
    coarse = tiny(2)
    fine = repatch(coarse, 1)
    assert fine.config.patch_size == 1 and coarse.config.patch_size == 2
    # a latent constant over each 2x2 patch embeds as before, at each of the patch's four fine tokens
    z = torch.randn(1, 4, 2, 3, 3)
    up = z.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)  # (1, 4, 2, 6, 6)
    old = coarse.x_embedder(up).reshape(1, 2, 3, 3, -1)
    new = fine.x_embedder(up).reshape(1, 2, 6, 6, -1)
    torch.testing.assert_close(new, old.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3), atol=1e-5, rtol=1e-5)
    # each fine output is the mean of the four coarse outputs it covers
    h = torch.randn(5, 32)
    torch.testing.assert_close(fine.proj_out(h), coarse.proj_out(h).reshape(5, 4, 4).mean(-1), atol=1e-5, rtol=1e-5)
    # everything per token carries over unchanged
    coarse_state, fine_state = coarse.state_dict(), fine.state_dict()
    for name, value in fine_state.items():
        if not name.startswith(("x_embedder", "proj_out")):
            assert torch.equal(value, coarse_state[name]), name


def test_repatched_model_runs_at_the_new_token_grid():
    fine = repatch(tiny(2), 1)
    text = torch.randn(1, 6, 32)
    out = fine(torch.randn(1, 4, 2, 3, 3), torch.tensor([500.0]), text, torch.ones(1, 6), torch.randn(1, 32))
    assert out.shape == (1, 4, 2, 3, 3)  # odd sizes: only patch 1 allows them
    back = repatch(fine, 2)  # fine -> coarse: outputs repeated, so a coarse output equals the fine one per pixel
    h = torch.randn(3, 32)
    torch.testing.assert_close(back.proj_out(h).reshape(3, 4, 4), fine.proj_out(h)[..., None].expand(3, 4, 4))


def test_repatch_refuses_sizes_that_do_not_divide():
    with pytest.raises(UserError, match="cannot repatch"):
        repatch(tiny(2), 3)
