"""vgen.nn.fp8: e4m3 quantization math, FP8Linear against its dequantized matmul, to_fp8 on a tiny DiT.

torch's CPU build runs row-wise ``_scaled_mm`` (torch >= 2.13 here), so the real matmul is tested on the CPU; the
CUDA kernel (bf16 output, fast accumulation) is the ``gpu`` test."""

import copy

import pytest
import torch
from torch import nn

from vgen.errors import UserError
from vgen.nn import fp8
from vgen.nn.fp8 import FP8Linear, convertible, dequantize, fp8_supported, quantize_rows, to_fp8

needs_cpu_fp8 = pytest.mark.skipif(not fp8_supported("cpu"), reason="this torch's CPU build has no row-wise _scaled_mm")


def test_quantize_rows_error_is_e4m3_rounding():
    x = torch.randn(64, 128) * torch.logspace(-3, 3, 64)[:, None]  # rows six decades apart: per-row scales matter
    q, scale = quantize_rows(x)
    assert q.dtype == torch.float8_e4m3fn and scale.shape == (64, 1)
    back = dequantize(q, scale)
    row_max = x.abs().amax(dim=1, keepdim=True)
    assert torch.allclose(back.abs().amax(dim=1, keepdim=True), row_max, rtol=1e-6)  # each row's max is exact
    big = x.abs() > row_max * 2**-6  # e4m3 normals: relative rounding error <= 2^-4
    rel = ((back - x).abs() / x.abs())[big]
    assert rel.max() <= 2**-4 + 1e-6
    assert rel.mean() > 1e-3  # it did round (a no-op quantizer would pass the bound above)


def test_quantize_rows_zero_row_stays_finite():
    x = torch.zeros(3, 32)
    x[1] = 1.0
    q, scale = quantize_rows(x)
    back = dequantize(q, scale)
    assert torch.isfinite(back).all() and back[0].abs().max() == 0 and torch.allclose(back[1], x[1])


@needs_cpu_fp8
@pytest.mark.parametrize("bias", [True, False])
def test_fp8_linear_is_the_dequantized_matmul(bias):
    linear = nn.Linear(64, 48, bias=bias)
    layer = FP8Linear.from_linear(linear)
    x = torch.randn(2, 5, 64)
    q, s = quantize_rows(x.reshape(-1, 64))
    expected = dequantize(q, s) @ layer.weight.t() + (linear.bias if bias else 0)
    out = layer(x)
    assert out.shape == (2, 5, 48) and out.dtype == x.dtype
    assert torch.allclose(out.reshape(-1, 48), expected, atol=1e-5, rtol=1e-5)
    rel = ((out - linear(x)).norm() / linear(x).norm()).item()
    assert 1e-4 < rel < 0.05  # e4m3 on both operands: a few percent at most, never exact


def test_weight_survives_dtype_casts():
    layer = FP8Linear.from_linear(nn.Linear(32, 16))
    before = layer.qweight.clone()
    model = nn.Sequential(nn.Sequential(layer)).to(torch.bfloat16)  # as pipe.to(dtype=...) would
    assert torch.equal(model[0][0].qweight, before) and model[0][0].qweight.dtype == torch.uint8
    assert layer.bias.dtype == torch.bfloat16


def test_convertible_rules():
    ok = nn.Linear(32, 64)
    assert convertible("blocks.0.attn.to_q", ok)
    assert not convertible("proj_out", ok)  # a direct child: the model's own output projection
    assert not convertible("blocks.0.attn.to_q", nn.Linear(24, 64))  # 24 is no multiple of 16
    assert not convertible("blocks.0.attn.to_q", nn.Linear(32, 40))
    assert not convertible("time_text_embed.timestep_embedder.linear_1", ok)
    assert not convertible("blocks.0.norm1.linear", ok)  # adaptive-norm modulation
    assert not convertible("blocks.0.attn.to_q", nn.Conv1d(32, 64, 1))


def tiny_dit():
    from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel

    cfg = dict(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=32, num_layers=2,
               num_single_layers=2, num_refiner_layers=1, text_embed_dim=32, pooled_projection_dim=32,
               rope_axes_dim=(8, 12, 12), guidance_embeds=True)
    model = HunyuanVideoTransformer3DModel(cfg).eval().requires_grad_(False)
    nn.init.normal_(model.proj_out.weight, std=0.02)  # released recipe zero-inits it: the output would be all 0
    g = torch.Generator().manual_seed(1)
    inputs = dict(hidden_states=torch.randn(1, 4, 2, 8, 8, generator=g), timestep=torch.tensor([500.0]),
                  encoder_hidden_states=torch.randn(1, 8, 32, generator=g),
                  encoder_attention_mask=torch.ones(1, 8, dtype=torch.long),
                  pooled_projections=torch.randn(1, 32, generator=g), guidance=torch.tensor([6000.0]))
    return model, inputs


@needs_cpu_fp8
def test_to_fp8_tiny_dit_counts_and_error():
    model, inputs = tiny_dit()
    quant = copy.deepcopy(model)
    n = to_fp8(quant)
    expected = sum(convertible(name, m) for name, m in model.named_modules())
    assert n == expected == sum(isinstance(m, FP8Linear) for m in quant.modules())
    assert n == 2 * 12 + 2 * 5  # dual blocks: 8 attention + 4 MLP linears; single: q k v, proj_mlp, proj_out
    assert type(quant.proj_out) is nn.Linear and type(quant.transformer_blocks[0].norm1.linear) is nn.Linear
    with torch.no_grad():
        ref, out = model(**inputs), quant(**inputs)
    rel = ((out - ref).norm() / ref.norm()).item()
    assert 1e-4 < rel < 0.03
    assert to_fp8(quant) == 0  # converted layers are not converted again


@needs_cpu_fp8
def test_single_block_proj_out_runs_its_fp8_forward(monkeypatch):
    """The single-stream block multiplies by its plain proj_out's weight in two column blocks; a converted one is
    called as a module on the concat (its FP8 matmul), not read through its dequantized ``weight``."""
    model, inputs = tiny_dit()
    to_fp8(model)
    calls, real = [], FP8Linear.forward
    monkeypatch.setattr(FP8Linear, "forward", lambda self, x: calls.append(self) or real(self, x))
    with torch.no_grad():
        model(**inputs)
    assert all(any(c is block.proj_out for c in calls) for block in model.single_transformer_blocks)


@pytest.mark.parametrize("dtype", [torch.bfloat16])
@needs_cpu_fp8
def test_to_fp8_bf16_dit_close_to_bf16(dtype):
    model, inputs = tiny_dit()
    model = model.to(dtype)
    inputs = {k: v.to(dtype) if v.is_floating_point() and k in ("hidden_states", "encoder_hidden_states",
                                                                 "pooled_projections") else v
              for k, v in inputs.items()}
    quant = copy.deepcopy(model)
    to_fp8(quant)
    with torch.no_grad():
        ref, out = model(**inputs).float(), quant(**inputs).float()
    assert out.dtype == torch.float32 and ((out - ref).norm() / ref.norm()).item() < 0.03


def test_to_fp8_refuses_clearly(monkeypatch):
    with pytest.raises(UserError, match="pass the model"):
        to_fp8(nn.Linear(32, 32))
    with torch.device("meta"):
        model = nn.Sequential(nn.Sequential(nn.Linear(32, 32)))
    with pytest.raises(UserError, match="meta device"):
        to_fp8(model)
    assert not fp8_supported("meta")
    with pytest.raises(UserError, match="FP8 linear layers need"):
        to_fp8(nn.Sequential(nn.Sequential(nn.Linear(32, 32))), device="meta")  # runs where FP8 cannot
    monkeypatch.setattr(fp8, "fp8_supported", lambda device: False)
    with pytest.raises(UserError, match="drop --fp8"):
        to_fp8(nn.Sequential(nn.Sequential(nn.Linear(32, 32))))
    assert to_fp8(nn.Sequential(nn.Sequential(nn.Linear(24, 32)))) == 0  # nothing eligible: nothing to refuse


@needs_cpu_fp8
def test_to_fp8_checks_the_device_it_will_run_on(monkeypatch):
    asked = []
    monkeypatch.setattr(fp8, "fp8_supported", lambda device: asked.append(torch.device(device)) or True)
    model = nn.Sequential(nn.Sequential(nn.Linear(32, 32), nn.Linear(32, 16)))
    assert to_fp8(model, device="cuda:0") == 2  # held on the host for offloading, run on the GPU
    assert asked == [torch.device("cuda:0")]


@pytest.mark.gpu
def test_fp8_linear_cuda_matches_bf16():
    if not fp8_supported("cuda"):
        pytest.skip("this GPU has no FP8 matmul")
    linear = nn.Linear(1024, 512, device="cuda", dtype=torch.bfloat16)
    layer = FP8Linear.from_linear(linear)
    x = torch.randn(300, 1024, device="cuda", dtype=torch.bfloat16)  # 300 rows: not a multiple of 16
    out = layer(x)
    assert out.dtype == torch.bfloat16 and out.shape == (300, 512)
    out, ref = out.float(), linear(x).float()
    assert ((out - ref).norm() / ref.norm()).item() < 0.05
