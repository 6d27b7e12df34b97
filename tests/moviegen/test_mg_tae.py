"""MovieGen TAE: inflation from a diffusers AutoencoderKL (the oracle), temporal tiling, the frame rule."""

import pytest
import torch
from vgen_plugins.moviegen.convert import inflate
from vgen_plugins.moviegen.tae import MovieGenTAE, TAEConfig

import vgen
from vgen.errors import UserError

IMAGE_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[8, 16, 16],
                 down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
                 layers_per_block=1, norm_num_groups=4, scaling_factor=0.5)


@pytest.fixture(scope="module")
def inflated(tmp_path_factory):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    image_vae = AutoencoderKL(**IMAGE_VAE).eval()
    tmp = tmp_path_factory.mktemp("tae")
    image_vae.save_pretrained(tmp / "image", max_shard_size="20KB")  # sharded: the sharded loader reads it
    inflate(tmp / "image", tmp / "out")
    return image_vae, tmp / "out"


def test_still_video_codes_as_the_image_vae(inflated):
    image_vae, folder = inflated
    pipe = vgen.load("moviegen", weights=folder)
    tae = pipe.vae
    assert isinstance(tae, MovieGenTAE) and tae.config.compression == 4 and tae.config.scaling_factor == 0.5
    image = torch.rand(2, 3, 16, 24) * 2 - 1
    video = image[:, :, None].expand(-1, -1, 9, -1, -1).contiguous()  # 9 = 4k+1 frames, all the same image
    with torch.no_grad():
        ref = image_vae.encode(image).latent_dist
        post = tae.encode(video)
        assert post.mean.shape == (2, 4, 3, 4, 6)
        ref_dec = image_vae.decode(ref.mean).sample
        dec = tae.decode(post.mean)
    assert dec.shape == video.shape
    for t in range(post.mean.shape[2]):
        torch.testing.assert_close(post.mean[:, :, t], ref.mean, rtol=1e-4, atol=1e-4 * ref.mean.abs().max())
        torch.testing.assert_close(post.logvar[:, :, t], ref.logvar, rtol=1e-4, atol=1e-4 * ref.logvar.abs().max())
    for t in range(9):
        torch.testing.assert_close(dec[:, :, t], ref_dec, rtol=1e-4, atol=1e-4 * ref_dec.abs().max())


def test_folder_with_only_a_vae(inflated):
    _, folder = inflated
    pipe = vgen.load("moviegen", weights=folder)
    with pytest.raises(UserError, match="no transformer"):
        pipe.transformer  # noqa: B018
    with pytest.raises(UserError, match="no text encoders"):
        pipe.encode_prompt(["a cat"])


def _perturbed_tae(seed=0):
    """A TAE whose temporal layers mix frames (identity plus noise), tiles of 8 frames, decode overlap 4."""
    torch.manual_seed(seed)
    tae = MovieGenTAE(TAEConfig(latent_channels=4, block_out_channels=(8, 8, 8), layers_per_block=1,
                                norm_num_groups=4, tile_frames=8, tile_overlap=4)).eval()
    from vgen_plugins.moviegen.convert import inflate_state

    with torch.no_grad():
        inflate_state(tae, {k: v for k, v in tae.state_dict().items() if ".temporal." not in k
                            and "attentions_temporal" not in k})
        for name, p in tae.named_parameters():
            if ".temporal." in name:
                p.add_(torch.randn_like(p) * 0.002)
    return tae


def test_tiled_equals_untiled():
    tae = _perturbed_tae()
    t = torch.linspace(0, 1, 17)
    video = (torch.sin(6 * t)[None, None, :, None, None] * torch.rand(1, 3, 1, 16, 16)).contiguous()
    with torch.no_grad():
        tiled = tae.encode(video).mean
        z = tiled
        dec_tiled = tae.decode(z)
        tae.use_temporal_tiling = False
        whole = tae.encode(video).mean
        dec_whole = tae.decode(z)
    assert tiled.shape == whole.shape == (1, 4, 5, 4, 4) and dec_tiled.shape == dec_whole.shape == (1, 3, 17, 16, 16)
    assert (tiled - whole).abs().max() < 0.03 * whole.abs().max()  # no overlap when encoding: boundary effects
    assert (dec_tiled - dec_whole).abs().max() < 0.02 * dec_whole.abs().max()
    assert (dec_tiled - dec_whole).abs().max() > 0  # the tiles really were decoded apart


def test_frame_rule_names_the_nearest_counts():
    tae = _perturbed_tae()
    with pytest.raises(UserError, match=r"4k\+1 .*got 7; nearest valid: 5 or 9"):
        tae.encode(torch.zeros(1, 3, 7, 16, 16))


def test_inflate_tae_command(inflated, tmp_path):
    from vgen.cli import main

    _, folder = inflated
    assert main(["convert", "inflate-tae", str(folder.parent / "image"), str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "vae" / "config.json").is_file()
    assert main(["convert", "inflate-tae", str(tmp_path / "nothing"), str(tmp_path / "p")]) == 2
