"""True CFG (batched and two-pass), embedded guidance, guidance interval, image-to-video, offload placements."""

import numpy as np
import pytest
import sample_toy
import torch

from vgen.errors import UserError
from vgen.flow.guidance import GuidedVelocity
from vgen.sample import generate

PROMPT = ["a red ball bouncing"]
KW = dict(frames=5, height=16, width=16, steps=3, seed=2, progress=False)


@pytest.fixture
def pipe():
    torch.manual_seed(0)
    return sample_toy.factory()


def test_cfg_scale_one_equals_no_cfg_and_skips_uncond(pipe):
    plain = generate(pipe, PROMPT, **KW)
    pipe.calls.clear()
    with_neg = generate(pipe, PROMPT, guidance=1.0, negative="blurry", **KW)
    assert torch.equal(plain.latents, with_neg.latents)
    assert [b for b, _ in pipe.calls] == [1, 1, 1]  # no uncond pass at scale 1


def test_cfg_formula_and_batched_equals_two_passes(pipe):
    cond, uncond = pipe.encode_prompt(PROMPT), pipe.encode_prompt(["blurry"])
    x = torch.randn(1, 4, 2, 4, 4)
    sigma = torch.tensor(0.6)
    t = torch.tensor([600.0])
    with torch.no_grad():
        vc, vu = pipe.denoise(x, t, cond), pipe.denoise(x, t, uncond)
        batched = GuidedVelocity(pipe, cond, uncond, scale=4.0, batch=True)(x, sigma)
        two = GuidedVelocity(pipe, cond, uncond, scale=4.0, batch=False)(x, sigma)
    assert torch.allclose(batched, vu + 4.0 * (vc - vu), atol=1e-5)
    assert torch.allclose(batched, two, atol=1e-5)
    pipe.calls.clear()
    a = generate(pipe, PROMPT, guidance=5.0, negative="blurry", cfg_batch=True, **KW)
    assert [b for b, _ in pipe.calls] == [2, 2, 2]
    pipe.calls.clear()
    b = generate(pipe, PROMPT, guidance=5.0, negative="blurry", cfg_batch=False, **KW)
    assert [b_ for b_, _ in pipe.calls] == [1] * 6
    assert torch.allclose(a.latents, b.latents, atol=1e-5)
    assert not torch.allclose(a.latents, generate(pipe, PROMPT, **KW).latents, atol=1e-3)  # guidance does something


def test_guidance_interval_limits_cfg_to_its_sigmas(pipe):
    pipe.calls.clear()
    res = generate(pipe, PROMPT, guidance=5.0, negative="blurry", guidance_interval=(0.0, 0.7), shift=1.0, **KW)
    # sigmas 1, 2/3, 1/3: the first step is outside the interval
    assert [b for b, _ in pipe.calls] == [1, 2, 2]
    off = generate(pipe, PROMPT, guidance=5.0, negative="blurry", guidance_interval=(0.0, 0.1), shift=1.0, **KW)
    assert torch.equal(off.latents, generate(pipe, PROMPT, shift=1.0, **KW).latents)
    assert not torch.equal(res.latents, off.latents)
    with pytest.raises(UserError, match="guidance interval"):
        generate(pipe, PROMPT, guidance=5.0, guidance_interval=(0.8, 0.2), **KW)


def test_embedded_guidance_reaches_the_model_with_and_without_cfg(pipe):
    pipe.calls.clear()
    a = generate(pipe, PROMPT, embedded_guidance=6.0, **KW)
    assert all(g == [6.0] for _, g in pipe.calls)
    pipe.calls.clear()
    both = generate(pipe, PROMPT, embedded_guidance=6.0, guidance=3.0, negative="blurry", **KW)
    assert all(b == 2 and g == [6.0, 6.0] for b, g in pipe.calls)
    assert not torch.equal(a.latents, generate(pipe, PROMPT, **KW).latents)
    assert not torch.equal(a.latents, both.latents)


def test_image_to_video_keeps_the_encoded_first_latent_frame(pipe):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)  # other size and aspect: resized and cropped
    res = generate(pipe, PROMPT, image=image, **KW)
    from vgen.flow.image import fit, image_latent

    fitted, note = fit(image, 16, 16)
    assert fitted.shape == (16, 16, 3) and "cropped" in note and res.info["image_note"] == note
    expected = image_latent(pipe, fitted, 1, "cpu", torch.float32)
    assert torch.equal(res.latents[:, :, :1], expected)
    assert not torch.equal(res.latents[:, :, 1:], generate(pipe, PROMPT, **KW).latents[:, :, 1:])
    for sampler in ("flow-heun", "flow-dpmpp-2m"):
        assert torch.equal(generate(pipe, PROMPT, image=image, sampler=sampler, **KW).latents[:, :, :1], expected)


@pytest.mark.parametrize("mode", ["model", "sequential"])
def test_offload_gives_the_same_video_and_leaves_weights_on_the_host(pipe, mode):
    from vgen.flow.offload import Placement

    ref = generate(pipe, PROMPT, guidance=2.0, negative="x", **KW)
    placement = Placement(pipe, "cpu", mode)
    seen = []
    hook = pipe.transformer.conv_in.register_forward_pre_hook(lambda m, a: seen.append(m.weight.device.type))
    try:
        res = generate(pipe, PROMPT, guidance=2.0, negative="x", placement=placement, **KW)
    finally:
        hook.remove()
        placement.close()
    assert seen and torch.equal(ref.frames, res.frames)
    assert all(p.device.type == "cpu" for m in (pipe.transformer, pipe.vae) for p in m.parameters())
    assert not placement._hooks


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["model", "sequential"])
def test_offload_on_cuda_keeps_weights_off_the_gpu(mode):
    from vgen.flow.offload import Placement

    torch.manual_seed(0)
    pipe = sample_toy.factory()
    ref = generate(pipe, PROMPT, **KW)
    placement = Placement(pipe, "cuda", mode)
    res = generate(pipe, PROMPT, placement=placement, **KW)
    placement.close()
    assert torch.allclose(ref.frames, res.frames, atol=1e-3)
    assert all(p.device.type == "cpu" for p in pipe.transformer.parameters())


def test_bad_sizes_and_prompts(pipe, capsys):
    with pytest.raises(UserError, match=r"frame count must be 4k\+1.*got 6; nearest valid: 5 or 9"):
        generate(pipe, PROMPT, **{**KW, "frames": 6})
    with pytest.raises(UserError, match="height must be a positive multiple of 8.*got 20; nearest valid: 16 or 24"):
        generate(pipe, PROMPT, **{**KW, "height": 20})
    with pytest.raises(UserError, match="empty prompt"):
        generate(pipe, ["  "], **KW)
    with pytest.raises(UserError, match="unknown sampler 'nope'"):
        generate(pipe, PROMPT, sampler="nope", **{k: v for k, v in KW.items()})
    generate(pipe, ["x" * 40], **KW)
    assert "prompt is 40 tokens, the text encoder takes 16: truncated" in capsys.readouterr().err


def test_vae_tiling_turns_on_above_the_size_limit(pipe):
    small = generate(pipe, PROMPT, **KW, tile_above=5 * 16 * 16)
    assert small.info["vae_tiling"] is False and pipe.vae.use_tiling is False
    big = generate(pipe, PROMPT, **KW, tile_above=5 * 16 * 16 - 1)
    assert big.info["vae_tiling"] is True and pipe.vae.use_tiling is True
    off = generate(pipe, PROMPT, **KW, vae_tiling="off", tile_above=0)
    assert off.info["vae_tiling"] is False
