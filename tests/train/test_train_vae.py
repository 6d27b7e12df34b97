"""VAE training on the tiny HunyuanVideo VAE: L1 + KL + outlier penalty + 3D patch adversarial loss, PSNR on
held-out clips improves."""

import json

import pytest
import torch
from conftest import hv_settings

from vgen.train import objectives, trainer


def test_vae_training_improves_heldout_psnr(dataset, tmp_path):
    stage = {"steps": 12, "buckets": [[1, 32, 32], [5, 32, 32]], "tokens_per_batch": 256, "max_batch": 2}
    s = hv_settings(target="vae", data=dataset, out=tmp_path / "vae", stages=[stage], lr=2e-3, warmup_steps=0,
                    holdout=2, eval_every=12, outlier_weight=1.0, adv_weight=0.05, adv_start=6, kl_weight=1e-6,
                    mse_weight=1.0)
    result = trainer.run(s)
    records = [json.loads(line) for line in (tmp_path / "vae" / "metrics.jsonl").read_text().splitlines()]
    psnrs = [r["psnr"] for r in records if "psnr" in r]
    assert records[0]["step"] == 0 and len(psnrs) >= 2
    assert psnrs[-1] > psnrs[0] + 1.0, psnrs  # dB
    steps = [r for r in records if "loss" in r]
    assert all({"l1", "kl", "outlier", "mse"} <= set(r) for r in steps)
    assert "d_loss" not in steps[5] and "d_loss" in steps[6] and "g_adv" in steps[6]  # the GAN starts at step 6
    assert sum(r["l1"] for r in steps[-3:]) < sum(r["l1"] for r in steps[:3])
    assert result["psnr"] == psnrs[-1]
    from vgen_plugins.hunyuan_video.pipeline import build

    trained = build(weights=result["final"])  # the trained VAE loads back in the pipeline folder
    initial = trainer.build_pipeline(s, "cpu").vae.state_dict()
    assert any(not torch.equal(t, initial[k]) for k, t in trained.vae.state_dict().items())


def test_gradient_l1_sees_edges_and_not_flat_offsets():
    x = torch.zeros(1, 3, 2, 8, 8)
    x[..., 2:5, 2:5] = 1.0  # a square
    assert objectives.gradient_l1(x + 0.3, x).item() == pytest.approx(0.0, abs=1e-6)  # a flat shift: no edge moved
    blurred = torch.nn.functional.avg_pool3d(x, (1, 3, 3), stride=1, padding=(0, 1, 1), count_include_pad=False)
    assert objectives.gradient_l1(blurred, x).item() > 0.05  # softened edges cost
    assert objectives.gradient_l1(x, x).item() == 0.0


def test_outlier_penalty_counts_only_values_beyond_r_std():
    z = torch.zeros(1, 1, 1, 4, 4)
    assert objectives.outlier_penalty(z, 3.0).item() == 0.0
    z[0, 0, 0, 0, 0] = 100.0  # one spot far beyond 3 std of the rest
    assert objectives.outlier_penalty(z, 3.0).item() > 0
    assert objectives.outlier_penalty(z, 100.0).item() == 0.0


def test_patch_discriminator_gives_a_logit_per_patch():
    d = objectives.PatchDiscriminator3D(width=8)
    logits = d(torch.randn(2, 3, 5, 32, 32))
    assert logits.shape[0] == 2 and logits.shape[1] == 1 and logits.shape[-1] == 4
    real, fake = torch.full((2, 4), 2.0), torch.full((2, 4), -2.0)
    assert torch.all(objectives.hinge_d_loss(real, fake) == 0)  # confident and right: no loss


def test_fit_scaling_factor_gives_the_dit_unit_variance_latents(dataset, tmp_path):
    """fit_scaling_factor: the saved VAE's scaling_factor makes the held-out latents (as the DiT sees them) unit
    variance; without held-out clips the run refuses to start rather than fail at the end."""
    from vgen_plugins.hunyuan_video.pipeline import build

    from vgen.errors import UserError
    from vgen.train.data import load_pixels

    stage = {"steps": 2, "buckets": [[5, 32, 32]], "tokens_per_batch": 256, "max_batch": 2}
    s = hv_settings(target="vae", data=dataset, out=tmp_path / "vae", stages=[stage], holdout=3,
                    fit_scaling_factor=True)
    t = trainer.Trainer(s)
    held = [c for c in t.heldout if not c.is_image]  # what fits the last stage's bucket
    assert held
    result = t.run()
    t.close()
    pipe = build(weights=result["final"])
    assert pipe.vae.config.scaling_factor == result["scaling_factor"] != 0.476986
    with torch.no_grad():
        z = torch.cat([pipe.encode_video(load_pixels(c, (5, 32, 32))[None]).flatten() for c in held])
    assert abs(float(z.std()) - 1.0) < 1e-2, float(z.std())  # (a few hundred values: ddof 1 vs 0)
    with pytest.raises(UserError, match="holdout > 0"):
        trainer.Trainer(hv_settings(target="vae", data=dataset, out=tmp_path / "x", stages=[stage],
                                    fit_scaling_factor=True))


def test_decoder_only_training_keeps_the_latents(dataset, tmp_path):
    stage = {"steps": 3, "buckets": [[5, 32, 32]], "tokens_per_batch": 256, "max_batch": 2}
    s = hv_settings(target="vae", data=dataset, out=tmp_path / "dec", stages=[stage], lr=2e-3, warmup_steps=0,
                    vae_trainable="decoder", decode_from="mean", mse_weight=1.0, gradient_weight=1.0)
    result = trainer.run(s)
    records = [json.loads(line) for line in (tmp_path / "dec" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["grad"] > 0 for r in records if "loss" in r)  # the edge term is in the loss
    from vgen_plugins.hunyuan_video.pipeline import build

    trained = build(weights=result["final"]).vae.state_dict()
    initial = trainer.build_pipeline(s, "cpu").vae.state_dict()
    frozen = [k for k in initial if k.startswith(("encoder.", "quant_conv."))]
    assert frozen and all(torch.equal(trained[k], initial[k]) for k in frozen)
    assert any(not torch.equal(trained[k], initial[k]) for k in initial if k.startswith("decoder."))


def test_decoder_fitted_to_the_dits_denoised_latents(dataset, tmp_path, monkeypatch):
    """decode_from = "denoised": each batch's means go through the pipeline's DiT (SDEdit from a sigma of the
    schedule, with the clips' captions) before the decoder; only the decoder trains."""
    from vgen.flow import renoise

    weights = trainer.build_pipeline(hv_settings(), "cpu").save(tmp_path / "start")
    calls = []

    def spy(pipe, latents, prompts, sigma, noise, **kw):
        out = real(pipe, latents, prompts, sigma, noise, **kw)
        calls.append((sigma, list(prompts), float((out - latents).abs().max())))
        return out

    real = renoise.denoise_from
    monkeypatch.setattr(renoise, "denoise_from", spy)
    stage = {"steps": 6, "buckets": [[5, 32, 32]], "tokens_per_batch": 256, "max_batch": 2}
    s = hv_settings(target="vae", data=dataset, out=tmp_path / "dec", stages=[stage], lr=2e-3, warmup_steps=0,
                    weights=weights, vae_trainable="decoder", decode_from="denoised", denoise_sigma_max=1.0)
    result = trainer.run(s)
    assert calls and all(sigma > 0 and change > 0 for sigma, _, change in calls)  # the DiT changed the latents
    captions = {c.caption for c in trainer.Trainer(s).clips.values()}
    assert all(len(p) == 2 and set(p) <= captions for _, p, _ in calls)  # each batch's clips' own captions
    from vgen_plugins.hunyuan_video.pipeline import build

    trained, initial = build(weights=result["final"]), build(weights=weights)
    for part in ("vae.encoder", "transformer"):  # the latents and the DiT stay as they were
        a, b = trained, initial
        for name in part.split("."):
            a, b = getattr(a, name), getattr(b, name)
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(trained.vae.decoder.state_dict().values(),
                                                      initial.vae.decoder.state_dict().values(), strict=True))


def test_denoised_decoding_needs_a_frozen_encoder_and_weights():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="denoised"):
        hv_settings(target="vae", decode_from="denoised", vae_trainable="decoder")  # no weights: no trained DiT
    with pytest.raises(ValidationError, match="denoised"):
        hv_settings(target="vae", decode_from="denoised", weights="x")  # the encoder would move the latents


@pytest.mark.parametrize("bad", [{"target": "dit"}, {"target": "vae", "fit_scaling_factor": True}])
def test_decoder_only_training_rejects_what_would_change_the_latents(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="vae_trainable"):
        hv_settings(vae_trainable="decoder", **bad)


def test_encode_decode_from_the_mean_draws_no_noise():
    from vgen_plugins.hunyuan_video.pipeline import build

    vae = build(config="tiny").vae
    x = torch.rand(2, 3, 5, 32, 32) * 2 - 1
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    mean, logvar, z, recon = objectives.encode_decode(vae, x, gens, sample=False)
    assert torch.equal(z, mean) and torch.allclose(recon, vae.decode(mean), atol=1e-6)
    _, _, z_sampled, _ = objectives.encode_decode(vae, x, gens)
    assert not torch.equal(z_sampled, mean)


def _vae_losses(dataset, out, steps, **kw):
    stage = {"steps": steps, "buckets": [[5, 32, 32]], "tokens_per_batch": 256, "max_batch": 2}
    s = hv_settings(target="vae", data=dataset, out=out, stages=[stage], lr=2e-3, warmup_steps=0, holdout=2, **kw)
    trainer.run(s)
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]


def test_compiled_vae_trains_like_eager(dataset, tmp_path, monkeypatch):
    """compile = true on target "vae": the VAE's encoder and decoder are compiled (the loss calls encode/decode,
    not the VAE's forward) and train to the same losses as eager mode."""
    compiled = []
    real = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(self) or real(self, *a, **k))
    eager = _vae_losses(dataset, tmp_path / "a", 2, log_every=1)
    assert not compiled
    fused = _vae_losses(dataset, tmp_path / "b", 2, log_every=1, compile=True)
    names = [type(m).__name__ for m in compiled]
    assert any("Encoder" in n for n in names) and any("Decoder" in n for n in names), names
    assert all(m._compiled_call_impl is not None for m in compiled)
    assert torch.allclose(torch.tensor(fused), torch.tensor(eager), rtol=1e-4), (fused, eager)
