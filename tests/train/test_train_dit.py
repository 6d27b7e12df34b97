"""DiT training on the tiny hunyuan-video pipeline: the loss falls, the cache feeds it, outputs load back."""

import json

import torch
from conftest import hv_settings

from vgen.train import trainer
from vgen.train.data import LatentCache


def test_cache_holds_latents_and_text_per_clip_and_bucket(hv_cache):
    cache = LatentCache(hv_cache)
    assert len(cache.entries) == 10
    video = next(e for e in cache.entries if e["bucket"] == [9, 32, 32])
    image = next(e for e in cache.entries if e["bucket"] == [1, 32, 32])
    assert tuple(cache.latents(video).shape) == (4, 3, 4, 4)  # 9 frames -> 3 latent frames, 32 px -> 4
    assert tuple(cache.latents(image).shape) == (4, 1, 4, 4)
    text = cache.text(video)
    assert set(text) == {"encoder_hidden_states", "encoder_attention_mask", "pooled_projections"}
    assert text["encoder_attention_mask"].sum() > 0
    assert cache.text(None)["encoder_hidden_states"].shape == text["encoder_hidden_states"].shape


def test_tiny_dit_loss_falls_by_30_percent_in_200_steps(hv_cache, tmp_path):
    s = hv_settings(cache=hv_cache, out=tmp_path / "run", checkpoint_every=100, keep_last=1)
    result = trainer.run(s)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records]
    assert len(losses) == 200 and all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.7 * first, (first, last)
    buckets = {r["bucket"] for r in records}
    assert buckets == {"1x32x32", "9x32x32"}  # joint image + video batches
    assert all(r["tokens_per_s"] > 0 and r["samples_per_s"] > 0 for r in records)
    assert all(0 <= r["data_wait"] <= 1 for r in records)  # share of the time spent waiting for batches
    assert all(abs(r["loss_mean"] - r["loss"]) < 1e-9 for r in records)  # log_every 1: a window of one step
    # outputs: the last checkpoint only (keep_last 1), the loss curve, the final pipeline folder that loads
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["step-0000200"]
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    from vgen_plugins.hunyuan_video.pipeline import build

    pipe = build(weights=result["final"])
    lat = torch.randn(1, 4, 1, 4, 4)
    text = LatentCache(hv_cache).text(LatentCache(hv_cache).entries[0])
    trained = trainer.build_pipeline(s, "cpu")
    assert not torch.allclose(pipe.denoise(lat, torch.tensor([500.0]), text),
                              trained.denoise(lat, torch.tensor([500.0]), text))


def _losses(s, steps):
    t = trainer.Trainer(s)
    try:
        return [t.train_step()["loss"] for _ in range(steps)]
    finally:
        t.close()


def test_cache_in_ram_reads_each_tensor_once_and_trains_the_same(hv_cache, tmp_path):
    """cache_in_ram = true: every tensor is read from its shard once, and training sees the same values."""
    reads = []
    cache = LatentCache(hv_cache, in_ram=True)
    entry = cache.entries[0]
    real = cache._file(entry["shard"])
    file = type("Counting", (), {"get_tensor": lambda self, k: reads.append(k) or real.get_tensor(k),
                                 "keys": real.keys})()
    cache._open[entry["shard"]] = file
    first = [cache.latents(entry), cache.text(entry)]
    n = len(reads)
    again = [cache.latents(entry), cache.text(entry)]
    assert n == 1 + len(first[1]) and len(reads) == n  # the second lookup reads nothing
    assert torch.equal(first[0], again[0]) and all(torch.equal(first[1][k], again[1][k]) for k in first[1])
    stage = {"steps": 4, "buckets": [[9, 32, 32]], "tokens_per_batch": 48}
    plain = _losses(hv_settings(cache=hv_cache, out=tmp_path / "a", stages=[stage]), 4)
    in_ram = _losses(hv_settings(cache=hv_cache, out=tmp_path / "b", stages=[stage], cache_in_ram=True), 4)
    assert plain == in_ram


def test_compiled_dit_trains_like_eager(hv_cache, tmp_path):
    """compile = true: the same losses as eager mode (one fixed bucket, so one graph)."""
    stage = {"steps": 3, "buckets": [[9, 32, 32]], "tokens_per_batch": 48}
    eager = _losses(hv_settings(cache=hv_cache, out=tmp_path / "a", stages=[stage]), 3)
    compiled = _losses(hv_settings(cache=hv_cache, out=tmp_path / "b", stages=[stage], compile=True), 3)
    assert torch.allclose(torch.tensor(compiled), torch.tensor(eager), rtol=1e-4), (compiled, eager)


def test_a_failing_compile_falls_back_to_eager_on_the_same_batch(hv_cache, tmp_path, monkeypatch, capsys):
    def broken_compile(self, *args, **kwargs):
        def fail(*a, **k):
            raise RuntimeError("inductor: no C++ compiler\nmore")
        self._compiled_call_impl = fail

    stage = {"steps": 3, "buckets": [[9, 32, 32]], "tokens_per_batch": 48}
    eager = _losses(hv_settings(cache=hv_cache, out=tmp_path / "a", stages=[stage]), 2)
    monkeypatch.setattr(torch.nn.Module, "compile", broken_compile)
    fallback = _losses(hv_settings(cache=hv_cache, out=tmp_path / "b", stages=[stage], compile=True), 2)
    assert fallback == eager
    assert "torch.compile failed (RuntimeError: inductor: no C++ compiler); training without it" in capsys.readouterr().err
