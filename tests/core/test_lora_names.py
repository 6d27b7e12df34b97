"""Issue 33: LoRA files of the default model name the DiT's layers as diffusers does: diffusers'
HunyuanVideoTransformer3DModel.load_lora_adapter accepts them and gives vgen's merged output; older files
(``transformer.dit.*``) still merge."""

import contextlib

import pytest
import torch
from safetensors.torch import load_file, save_file

from vgen.nn.lora import apply_lora, file_name, module_names


def test_names_through_the_models_prefixes():
    prefixes = {"dit.": "transformer.", "text_encoder.": "text_encoder."}
    assert file_name("dit.transformer_blocks.0.attn.to_q", prefixes) == "transformer.transformer_blocks.0.attn.to_q"
    assert file_name("text_encoder.layers.0.q_proj", prefixes) == "text_encoder.layers.0.q_proj"
    assert file_name("blocks.0.to_q", {"": "transformer."}) == "transformer.blocks.0.to_q"
    assert module_names("transformer.transformer_blocks.0.attn.to_q", prefixes)[0] == \
        "dit.transformer_blocks.0.attn.to_q"
    assert module_names("transformer.dit.x", prefixes)[-1] == "dit.x"  # an older file's name


@pytest.fixture(scope="module")
def shapes_lora(tmp_path_factory):
    """A rank-4 LoRA of the tiny default model written by vgen train's FlowMatching.save_adapters."""
    from vgen_plugins.shapes_model.pipeline import build

    from vgen.train.objectives.flow import FlowMatching
    from vgen.train.settings import TrainSettings

    tmp = tmp_path_factory.mktemp("shapes-lora")
    torch.manual_seed(0)
    pipe = build(config="tiny")
    torch.nn.init.normal_(pipe.transformer.dit.proj_out.weight, std=0.2)  # random weights start at zero output
    pipe.save(tmp / "base")
    s = TrainSettings(pipeline="shapes", config="tiny", lora_rank=4, lora_alpha=8.0)
    objective = FlowMatching(s, pipe, {}, None, torch.device("cpu"), contextlib.nullcontext())
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in objective.module.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    objective.save_adapters(objective.module.state_dict(), tmp)
    return tmp / "lora.safetensors", tmp / "base"


def _inputs():
    gen = torch.Generator().manual_seed(2)
    return dict(hidden_states=torch.randn(1, 4, 2, 4, 4, generator=gen), timestep=torch.tensor([700.0]),
                encoder_hidden_states=torch.randn(1, 6, 32, generator=gen),
                encoder_attention_mask=torch.ones(1, 6, dtype=torch.long),
                pooled_projections=torch.randn(1, 32, generator=gen))


def test_default_model_lora_has_diffusers_keys_and_loads_in_diffusers(shapes_lora):
    diffusers = pytest.importorskip("diffusers")
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    lora, base = shapes_lora
    keys = list(load_file(str(lora)))
    assert keys and all(k.startswith("transformer.") and ".dit." not in k for k in keys)
    assert "transformer.transformer_blocks.0.attn.to_q.lora_A.weight" in keys

    ref = diffusers.HunyuanVideoTransformer3DModel.from_pretrained(base / "transformer")
    with torch.no_grad():
        before = ref(**_inputs(), return_dict=False)[0]
    ref.load_lora_adapter(str(lora), prefix="transformer", adapter_name="vgen")
    pipe = ShapesPipeline.load(base)
    assert apply_lora(pipe, lora) == len(keys) // 2
    with torch.no_grad():
        theirs = ref(**_inputs(), return_dict=False)[0]
        ours = pipe.transformer.dit(**_inputs())
    assert (theirs - before).abs().max() > 1e-4  # the adapter changed diffusers' model
    torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=1e-4)


def test_an_older_default_model_lora_still_merges(shapes_lora, tmp_path):
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    lora, base = shapes_lora
    old = tmp_path / "old.safetensors"
    save_file({k.replace("transformer.", "transformer.dit.", 1): v for k, v in load_file(str(lora)).items()},
              str(old))
    a, b = ShapesPipeline.load(base), ShapesPipeline.load(base)
    apply_lora(a, lora)
    apply_lora(b, old)
    for (name, x), (_, y) in zip(a.transformer.state_dict().items(), b.transformer.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
