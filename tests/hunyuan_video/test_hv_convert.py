"""``vgen convert hunyuan-original``: Tencent's original key layout -> diffusers layout, checked against diffusers."""

import json

import pytest
import torch
from safetensors.torch import save_file
from vgen_plugins.hunyuan_video.pipeline import PRESETS
from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel

from vgen.cli import main

TINY = PRESETS["tiny"]["transformer"]
ROPE = json.dumps({"rope_axes_dim": TINY["rope_axes_dim"]})


def to_original(sd: dict, hidden: int) -> dict:
    """diffusers keys -> the original HunyuanVideo keys (hyvideo/modules/models.py), written out independently of
    vgen's converter: fused qkv / linear1, final modulation stored (shift, scale)."""
    out = {}
    fixed = {"x_embedder.proj": "img_in.proj", "time_text_embed.timestep_embedder.linear_1": "time_in.mlp.0",
             "time_text_embed.timestep_embedder.linear_2": "time_in.mlp.2",
             "time_text_embed.guidance_embedder.linear_1": "guidance_in.mlp.0",
             "time_text_embed.guidance_embedder.linear_2": "guidance_in.mlp.2",
             "time_text_embed.text_embedder.linear_1": "vector_in.in_layer",
             "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
             "context_embedder.proj_in": "txt_in.input_embedder",
             "context_embedder.time_text_embed.timestep_embedder.linear_1": "txt_in.t_embedder.mlp.0",
             "context_embedder.time_text_embed.timestep_embedder.linear_2": "txt_in.t_embedder.mlp.2",
             "context_embedder.time_text_embed.text_embedder.linear_1": "txt_in.c_embedder.linear_1",
             "context_embedder.time_text_embed.text_embedder.linear_2": "txt_in.c_embedder.linear_2",
             "proj_out": "final_layer.linear"}
    refiner = {"norm1": "norm1", "norm2": "norm2", "attn.to_out.0": "self_attn_proj", "ff.net.0.proj": "mlp.fc1",
               "ff.net.2": "mlp.fc2", "norm_out.linear": "adaLN_modulation.1"}
    double = {"norm1.linear": "img_mod.linear", "norm1_context.linear": "txt_mod.linear",
              "attn.norm_q": "img_attn_q_norm", "attn.norm_k": "img_attn_k_norm",
              "attn.norm_added_q": "txt_attn_q_norm", "attn.norm_added_k": "txt_attn_k_norm",
              "attn.to_out.0": "img_attn_proj", "attn.to_add_out": "txt_attn_proj", "ff.net.0.proj": "img_mlp.fc1",
              "ff.net.2": "img_mlp.fc2", "ff_context.net.0.proj": "txt_mlp.fc1", "ff_context.net.2": "txt_mlp.fc2"}
    single = {"proj_out": "linear2", "attn.norm_q": "q_norm", "attn.norm_k": "k_norm",
              "norm.linear": "modulation.linear"}
    for key, t in sd.items():
        module, param = key.rsplit(".", 1)
        if module in fixed:
            out[f"{fixed[module]}.{param}"] = t
        elif module == "norm_out.linear":
            scale, shift = t.chunk(2)
            out[f"final_layer.adaLN_modulation.1.{param}"] = torch.cat([shift, scale])
    blocks = [("context_embedder.token_refiner.refiner_blocks", "txt_in.individual_token_refiner.blocks", refiner,
               [("attn.to_q", "attn.to_k", "attn.to_v", "self_attn_qkv")]),
              ("transformer_blocks", "double_blocks", double,
               [("attn.to_q", "attn.to_k", "attn.to_v", "img_attn_qkv"),
                ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj", "txt_attn_qkv")]),
              ("single_transformer_blocks", "single_blocks", single,
               [("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp", "linear1")])]
    for new, old, table, fused in blocks:
        n = len({k.split(".")[len(new.split("."))] for k in sd if k.startswith(new + ".")})
        for i in range(n):
            for sub, orig in table.items():
                for param in ("weight", "bias"):
                    if f"{new}.{i}.{sub}.{param}" in sd:
                        out[f"{old}.{i}.{orig}.{param}"] = sd[f"{new}.{i}.{sub}.{param}"]
            for *parts, orig in fused:
                for param in ("weight", "bias"):
                    out[f"{old}.{i}.{orig}.{param}"] = torch.cat([sd[f"{new}.{i}.{p}.{param}"] for p in parts])
    assert sum(t.numel() for t in out.values()) == sum(t.numel() for t in sd.values())
    return out


@pytest.fixture(scope="module")
def reference():
    from diffusers import HunyuanVideoTransformer3DModel as DiffusersDiT

    torch.manual_seed(0)
    model = DiffusersDiT(**TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def _inputs():
    g = torch.Generator().manual_seed(3)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 4:] = 0
    return dict(hidden_states=torch.randn(2, 4, 2, 6, 4, generator=g), timestep=torch.tensor([900.0, 100.0]),
                encoder_hidden_states=torch.randn(2, 7, 32, generator=g), encoder_attention_mask=mask,
                pooled_projections=torch.randn(2, 32, generator=g), guidance=torch.tensor([6000.0, 6000.0]))


@pytest.mark.parametrize("fmt", ["module", "ema", "safetensors"])
def test_original_checkpoint_converts_and_matches(reference, tmp_path, fmt):
    hidden = TINY["num_attention_heads"] * TINY["attention_head_dim"]
    original = to_original(reference.state_dict(), hidden)
    # spot-check Tencent's names
    assert {"img_in.proj.weight", "double_blocks.1.img_attn_qkv.weight", "double_blocks.0.txt_mlp.fc2.bias",
            "single_blocks.1.linear1.weight", "single_blocks.0.modulation.linear.weight",
            "txt_in.individual_token_refiner.blocks.1.adaLN_modulation.1.weight", "guidance_in.mlp.2.bias",
            "final_layer.adaLN_modulation.1.weight", "vector_in.in_layer.weight"} <= set(original)
    if fmt == "safetensors":
        ckpt = tmp_path / "model.safetensors"
        save_file({k: v.contiguous() for k, v in original.items()}, ckpt)
    else:
        ckpt = tmp_path / "mp_rank_00_model_states.pt"
        other = "ema" if fmt == "module" else "module"
        noise = {k: torch.randn_like(v) for k, v in original.items()}  # the other state dict must not be taken
        torch.save({fmt: original, other: noise} if fmt == "ema" else {fmt: original}, ckpt)
    out = tmp_path / "transformer"
    args = ["convert", "hunyuan-original", str(ckpt), str(out), "--config", ROPE, "--max-shard-size", "50KB"]
    if fmt == "ema":
        args += ["--weights", "ema"]
    assert main(args) == 0
    assert len(list(out.glob("*.safetensors"))) > 1

    mine = HunyuanVideoTransformer3DModel.from_pretrained(out)
    ref_sd = reference.state_dict()
    assert set(mine.state_dict()) == set(ref_sd)
    assert all(torch.equal(v, ref_sd[k]) for k, v in mine.state_dict().items())
    config = json.loads((out / "config.json").read_text())
    assert {k: config[k] for k in TINY} == {k: (list(v) if isinstance(v, tuple) else v)
                                            for k, v in reference.config.items() if k in TINY}
    with torch.no_grad():
        expected = reference(**_inputs(), return_dict=False)[0]
        got = mine(**_inputs())
    assert (got - expected).abs().max() / expected.abs().max() <= 1e-5


def test_convert_errors_are_one_line(reference, tmp_path, capsys):
    original = to_original(reference.state_dict(), 16)
    ckpt = tmp_path / "orig.pt"
    torch.save({"module": original}, ckpt)
    cases = [
        (["convert", "hunyuan-original", str(ckpt), str(tmp_path / "o")], "rope_axes_dim"),  # 8-channel heads
        (["convert", "hunyuan-original", str(tmp_path / "nope.pt"), str(tmp_path / "o")], "nope.pt"),
        (["convert", "hunyuan-original", str(ckpt), str(tmp_path / "o"), "--weights", "ema", "--config", ROPE],
         "no 'ema' state dict"),
    ]
    bad = tmp_path / "bad.pt"
    torch.save({"module": {**original, "double_blocks.0.extra.weight": torch.zeros(2)}}, bad)
    cases.append((["convert", "hunyuan-original", str(bad), str(tmp_path / "o"), "--config", ROPE],
                  "unknown HunyuanVideo tensor 'double_blocks.0.extra.weight'"))
    mine = tmp_path / "mine"  # issue 32: a folder the user made is never replaced (nor a file moved away)
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    (tmp_path / "afile").write_text("keep")
    cases += [(["convert", "hunyuan-original", str(ckpt), str(mine), "--config", ROPE], "vgen did not write it"),
              (["convert", "hunyuan-original", str(ckpt), str(tmp_path / "afile"), "--config", ROPE], "not a folder"),
              (["convert", "hunyuan-original", str(ckpt), str(tmp_path / "o"), "--config", ROPE, "--max-shard-size",
                "lots"], "shard size 'lots'")]
    for args, needle in cases:
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (tmp_path / "afile").read_text() == "keep"
    assert not (tmp_path / "o").exists()
