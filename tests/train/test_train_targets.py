"""What a training target trains is the pipeline's to say (PipelineBase.trainable and the hunyuan-video / shapes
overrides); a pipeline that cannot split over ranks says so in one line."""

import pytest
import torch
import train_tiny_pipeline

from vgen.errors import UserError


def _trainable_names(pipe) -> set[str]:
    return {f"{name}.{p}" for name, module in pipe.modules().items() for p, q in module.named_parameters()
            if q.requires_grad}


def test_the_base_trains_the_dit_or_the_whole_vae_and_freezes_the_rest():
    pipe = train_tiny_pipeline.factory()
    assert set(pipe.modules()) == {"vae", "text_encoder", "transformer"}
    assert pipe.trainable("dit") is pipe.transformer
    names = _trainable_names(pipe)
    assert names and all(n.startswith("transformer.") for n in names)
    assert len(names) == len(list(pipe.transformer.parameters()))
    assert pipe.trainable("vae") is pipe.vae
    names = _trainable_names(pipe)
    assert names == {f"vae.{n}" for n, _ in pipe.vae.named_parameters()}


def test_unknown_targets_parts_and_splits_are_one_line_errors():
    pipe = train_tiny_pipeline.factory()
    with pytest.raises(UserError, match="unknown training target 'audio'"):
        pipe.trainable("audio")
    with pytest.raises(UserError, match="target 'dit' trains one of: all"):
        pipe.trainable("dit", "decoder")
    with pytest.raises(UserError, match="pipeline tiny-train cannot train its VAE's decoder alone"):
        pipe.trainable("vae", "decoder")
    with pytest.raises(UserError, match="pipeline tiny-train cannot split over a process group"):
        pipe.sequence_parallel(None)


@pytest.mark.parametrize("family", ["hunyuan_video", "shapes_model"])
def test_decoder_only_training_freezes_what_makes_the_latents(family):
    if family == "hunyuan_video":
        from vgen_plugins.hunyuan_video.pipeline import HunyuanVideoPipeline as cls
    else:
        from vgen_plugins.shapes_model.pipeline import ShapesPipeline as cls
    pipe = cls.from_config("tiny")
    vae = pipe.trainable("vae", "decoder")
    trained = {n for n, p in vae.named_parameters() if p.requires_grad}
    assert trained and all(not n.startswith(("encoder.", "quant_conv.")) for n in trained)
    assert any(n.startswith("decoder.") for n in trained)
    assert not any(p.requires_grad for p in pipe.transformer.parameters())
    # outside a process group the split is the plain model
    x = torch.randn(1, 4, 1, 4, 4)
    text = pipe.encode_prompt(["a red circle"])
    with torch.no_grad():
        ref = pipe.denoise(x, torch.tensor([500.0]), text)
        with pipe.sequence_parallel(None):
            assert torch.equal(pipe.denoise(x, torch.tensor([500.0]), text), ref)
