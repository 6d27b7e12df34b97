"""HunyuanVideo DiT: parity with diffusers' HunyuanVideoTransformer3DModel (same saved weights), 13B on meta, loading."""

import json

import pytest
import torch
from diffusers import HunyuanVideoTransformer3DModel as DiffusersDiT
from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel, HunyuanVideoTransformerConfig

from vgen.errors import UserError
from vgen.io.checkpoint import load_into, read_config
from vgen.nn.attention import attention_backend

TINY = dict(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=8, num_layers=2,
            num_single_layers=2, num_refiner_layers=2, text_embed_dim=12, pooled_projection_dim=6,
            rope_axes_dim=(2, 2, 4))


def _randomise(model, std=0.3):
    """Perturb every tensor (norm weights too) so that a key loaded into the wrong place shows."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * std)
    return model.eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny random diffusers DiT saved with save_pretrained in several shards, and the model itself."""
    torch.manual_seed(0)
    ref = _randomise(DiffusersDiT(**TINY))
    folder = tmp_path_factory.mktemp("hv_dit")
    ref.save_pretrained(folder, max_shard_size="20KB")
    assert len(list(folder.glob("*.safetensors"))) > 1
    return folder, ref


def _load(folder):
    with torch.device("meta"):
        model = HunyuanVideoTransformer3DModel(HunyuanVideoTransformerConfig.from_dict(read_config(folder)))
    return load_into(model, folder, strict=True).eval()


def _inputs(batch, frames, height, width, text_len, valid, guidance=True, channels=4):
    mask = torch.zeros(batch, text_len, dtype=torch.long)
    for i, n in enumerate(valid):
        mask[i, :n] = 1
    return dict(hidden_states=torch.randn(batch, channels, frames, height, width),
                timestep=torch.rand(batch) * 1000, encoder_hidden_states=torch.randn(batch, text_len, 12),
                encoder_attention_mask=mask, pooled_projections=torch.randn(batch, 6),
                guidance=torch.full((batch,), 6000.0) if guidance else None)


def _rel(out, ref):
    return ((out - ref).abs().max() / ref.abs().max()).item()


SHAPES = [  # batch, frames, height, width (latent), text length, valid text tokens per sample
    (2, 3, 6, 8, 7, (5, 3)),  # 3 patches along the height (odd), different padding per sample
    (1, 1, 4, 4, 5, (5,)),  # one frame, no padding at all
    (2, 2, 10, 6, 9, (9, 4)),  # 5 patches high, one sample unpadded, the other padded
    (2, 5, 2, 2, 6, (2, 6)),  # a single spatial patch, padding in the first sample only
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:4])))
def test_matches_diffusers(saved, shape):
    folder, ref = saved
    model = _load(folder)
    inputs = _inputs(*shape)
    with torch.no_grad():
        expected = ref(**inputs, return_dict=False)[0]
        out = model(**inputs)
    assert out.shape == expected.shape == inputs["hidden_states"].shape
    assert _rel(out, expected) <= 1e-5


def test_attention_backends_agree_inside_the_model(saved):
    folder, _ = saved
    model = _load(folder)
    inputs = _inputs(*SHAPES[0])
    with torch.no_grad():
        sdpa = model(**inputs)
        with attention_backend("math"):
            math = model(**inputs)
    assert _rel(sdpa, math) <= 1e-5


def test_text_padding_is_masked(saved):
    """Whatever sits in padded text positions changes nothing."""
    model = _load(saved[0])
    inputs = _inputs(*SHAPES[0])
    with torch.no_grad():
        out = model(**inputs)
        inputs["encoder_hidden_states"][0, 5:] = 100.0
        inputs["encoder_hidden_states"][1, 3:] = -50.0
        assert torch.allclose(model(**inputs), out, atol=1e-6)


def test_no_guidance_variant_and_temporal_patches():
    torch.manual_seed(1)
    cfg = {**TINY, "guidance_embeds": False, "patch_size": 1, "patch_size_t": 2, "num_layers": 1,
           "num_single_layers": 1, "num_refiner_layers": 1}
    ref = _randomise(DiffusersDiT(**cfg))
    model = HunyuanVideoTransformer3DModel(cfg)
    model.load_state_dict(ref.state_dict(), strict=True)
    inputs = _inputs(2, 4, 3, 5, 6, (4, 6), guidance=False)
    with torch.no_grad():
        assert _rel(model(**inputs), ref(**inputs, return_dict=False)[0]) <= 1e-5


def test_gradient_checkpointing_gives_the_same_gradients(saved):
    model = _load(saved[0]).train()
    inputs = _inputs(*SHAPES[0])
    grads = []
    for flag in (False, True):
        model.gradient_checkpointing = flag
        model.zero_grad()
        model(**inputs).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert all(torch.allclose(grads[0][n], grads[1][n], atol=1e-6) for n in grads[0])
    assert grads[0]["transformer_blocks.0.attn.norm_added_k.weight"].abs().sum() > 0


def test_full_13b_config_on_meta_has_diffusers_parameter_count():
    config = dict(num_attention_heads=24, attention_head_dim=128, num_layers=20, num_single_layers=40,
                  num_refiner_layers=2, text_embed_dim=4096, pooled_projection_dim=768, guidance_embeds=True,
                  rope_axes_dim=(16, 56, 56), rope_theta=256.0, patch_size=2, patch_size_t=1, in_channels=16,
                  out_channels=16)
    with torch.device("meta"):
        model = HunyuanVideoTransformer3DModel(config)
        ref = DiffusersDiT(**config)
    assert model.num_parameters() == 12_821_012_544
    assert model.num_parameters() == sum(p.numel() for p in ref.parameters())
    assert all(p.is_meta for p in model.parameters())
    ours, theirs = model.state_dict(), ref.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(ours[k].shape == theirs[k].shape for k in theirs)
    assert HunyuanVideoTransformerConfig() == HunyuanVideoTransformerConfig.from_dict(config)  # the defaults


def test_config_reads_diffusers_json_and_round_trips(saved):
    folder, ref = saved
    data = json.loads((folder / "config.json").read_text())
    assert "_class_name" in data and "_diffusers_version" in data
    config = HunyuanVideoTransformerConfig.from_dict(data)
    assert config.num_layers == 2 and config.rope_axes_dim == (2, 2, 4)
    again = DiffusersDiT.from_config(config.to_dict())
    assert again.config.num_single_layers == 2 and tuple(again.config.rope_axes_dim) == (2, 2, 4)
    with pytest.raises(UserError, match="unknown HunyuanVideo transformer config keys: num_experts"):
        HunyuanVideoTransformerConfig.from_dict({**data, "num_experts": 4})
    with pytest.raises(UserError, match="rope_axes_dim"):
        HunyuanVideoTransformerConfig.from_dict({**data, "rope_axes_dim": [2, 2, 2]})
    with pytest.raises(UserError, match="token_replace"):
        HunyuanVideoTransformerConfig.from_dict({**data, "image_condition_type": "token_replace"})


def test_from_pretrained_and_mismatched_folder(saved, tmp_path):
    folder, ref = saved
    model = HunyuanVideoTransformer3DModel.from_pretrained(folder, dtype=torch.bfloat16)
    assert model.x_embedder.proj.weight.dtype == torch.bfloat16
    assert torch.equal(model.proj_out.weight, ref.proj_out.weight.bfloat16())
    with torch.device("meta"):
        smaller = HunyuanVideoTransformer3DModel({**TINY, "num_single_layers": 1})
    with pytest.raises(UserError, match=r"diffusion_pytorch_model-.*unexpected tensor 'single_transformer_blocks\.1"):
        load_into(smaller, folder)


def test_input_errors(saved):
    model = _load(saved[0])
    inputs = _inputs(*SHAPES[0])
    with pytest.raises(UserError, match="not a multiple of the patch size"):
        model(**{**inputs, "hidden_states": torch.randn(2, 4, 3, 5, 8)})
    with pytest.raises(UserError, match="guidance"):
        model(**{**inputs, "guidance": None})


def test_gradients_match_diffusers(saved):
    """Training parity: input and weight gradients equal diffusers' (backward through every custom fused op)."""
    folder, _ = saved
    ref = DiffusersDiT.from_pretrained(folder).train()
    model = _load(folder).train()
    inputs = _inputs(*SHAPES[0])
    grads = []
    for net, kwargs in ((ref, {"return_dict": False}), (model, {})):
        x = inputs["hidden_states"].clone().requires_grad_(True)
        out = net(**{**inputs, "hidden_states": x}, **kwargs)
        (out[0] if isinstance(out, tuple) else out).square().mean().backward()
        grads.append((x.grad, dict(net.named_parameters())))
    (gx_ref, p_ref), (gx, p) = grads
    assert _rel(gx, gx_ref) <= 1e-5
    for name in ("single_transformer_blocks.1.proj_out.weight", "transformer_blocks.0.attn.norm_q.weight",
                 "context_embedder.token_refiner.refiner_blocks.0.attn.to_q.weight", "norm_out.linear.weight",
                 "time_text_embed.guidance_embedder.linear_1.weight", "x_embedder.proj.weight"):
        assert _rel(p[name].grad, p_ref[name].grad) <= 1e-5, name


def test_benchmark_runs_on_cpu_with_a_tiny_config(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "hunyuan_dit.py"
    spec = importlib.util.spec_from_file_location("hunyuan_dit_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--device", "cpu", "--dtype", "fp32", "--layers", "1", "--single-layers", "1", "--heads", "2",
                "--head-dim", "16", "--text-dim", "32", "--pooled-dim", "16", "--frames", "2", "--height", "4",
                "--width", "6", "--text-tokens", "8", "--valid-tokens", "5", "--warmup", "1", "--iters", "1"])
    out = capsys.readouterr().out
    assert "| diffusers |" in out and "| vgen |" in out and "device: CPU" in out
    rel = float(out.rsplit("max|diffusers| = ", 1)[1].split()[0])
    assert rel <= 1e-5


@pytest.mark.slow
def test_compiled_blocks_match_eager(saved):
    model = _load(saved[0])
    inputs = _inputs(*SHAPES[0])
    with torch.no_grad():
        eager = model(**inputs)
        model.compile_repeated_blocks(fullgraph=True)
        assert _rel(model(**inputs), eager) <= 1e-5


@pytest.mark.gpu
def test_bf16_on_gpu_close_to_diffusers(saved):
    folder, _ = saved
    ref = DiffusersDiT.from_pretrained(folder, torch_dtype=torch.bfloat16).cuda().eval()
    model = HunyuanVideoTransformer3DModel.from_pretrained(folder, dtype=torch.bfloat16, device="cuda").eval()
    inputs = {k: (v.cuda().bfloat16() if v.is_floating_point() and k not in ("timestep", "guidance") else v.cuda())
              for k, v in _inputs(*SHAPES[2]).items()}
    with torch.no_grad():
        assert _rel(model(**inputs).float(), ref(**inputs, return_dict=False)[0].float()) <= 3e-2
