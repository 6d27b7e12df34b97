"""The 4x-compression experiment (recipe shapes-vae4) on tiny weights: its VAE trains, hands the DiT 16x16 latents
that the DiT reads at patch 2 (8x8 tokens a frame, as the shipped model), and the result samples 64x64 videos."""

import json

import torch

from vgen.cli import main


def test_vae4_recipe_trains_caches_trains_the_dit_and_samples(tmp_path):
    from vgen_plugins.shapes_model.pipeline import ShapesPipeline

    data, vae, cache, dit = (tmp_path / n for n in ("data", "vae", "cache", "dit"))
    assert main(["-q", "datasets", "shapes", "--num", "8", "--out", str(data), "--workers", "1"]) == 0
    stages = json.dumps([{"name": "i", "steps": 2, "buckets": [[1, 64, 64]], "max_batch": 4},
                         {"name": "c", "steps": 2, "buckets": [[17, 64, 64]], "max_batch": 2}])
    tiny = {"preset": "tiny", "vae": {"spatial_compression_ratio": 4}, "transformer": {"patch_size": 2}}
    assert main(["-q", "train", "run", "--recipe", "shapes-vae4", "--data", str(data), "--out", str(vae),
                 "--set", f"config={json.dumps(tiny)}", "--set", "holdout=2", "--set", f"stages={stages}",
                 "--set", "data_workers=2"]) == 0
    pipe = ShapesPipeline.load(vae / "final")
    assert (pipe.spatial_compression, pipe.transformer.dit.config.patch_size) == (4, 2)
    assert pipe.size_multiple == 8  # 4x latents at patch 2: 8x8 tokens a 64x64 frame, as the shipped model
    with torch.no_grad():
        latents = pipe.vae.encode(torch.zeros(1, 3, 17, 64, 64)).mean
    assert latents.shape[-3:] == (5, 16, 16)

    dit_stages = json.dumps([{"name": "c", "steps": 2, "buckets": [[17, 64, 64]], "max_batch": 4}])
    common = ["--recipe", "shapes-default", "--set", f"stages={dit_stages}", "--set", "data_workers=2",
              "--set", "compile=false"]
    assert main(["-q", "train", "cache", "--weights", str(vae / "final"), "--data", str(data), "--out", str(cache),
                 *common]) == 0
    assert main(["-q", "train", "run", "--weights", str(vae / "final"), "--cache", str(cache), "--out", str(dit),
                 *common]) == 0
    assert main(["-q", "sample", "a red circle moving right", "--weights", str(dit / "final-ema"), "--steps", "2",
                 "--out", str(tmp_path / "videos")]) == 0
    sidecar = json.loads(next((tmp_path / "videos").glob("*.json")).read_text())
    assert (sidecar["frames"], sidecar["height"], sidecar["width"]) == (17, 64, 64)
