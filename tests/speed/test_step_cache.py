"""Step caching (vgen.flow.stepcache) through the pipeline contract's ``denoiser_split``: the split runs exactly the
DiT's forward, a large threshold skips calls and counts them (one decision per step for a whole batch), and a
pipeline without the split refuses ``--step-cache`` in one line."""

import json

import pytest
import torch

from vgen.cli import main
from vgen.flow import stepcache
from vgen.flow.loop import generate
from vgen.pipeline import DenoiserSplit, build

SMALL = dict(steps=5, frames=5, height=32, width=32, progress=False, decode=False)


def _pipe(name):
    pipe = build(name, config="tiny")
    if name == "shapes":  # its output projection starts at zero: give the velocity something to show
        torch.nn.init.normal_(pipe.transformer.dit.proj_out.weight, std=0.5)
    return pipe


@pytest.mark.parametrize("name", ["hunyuan-video", "shapes", "moviegen"])
def test_split_computes_exactly_the_uncached_path(name):
    pipe = _pipe(name)
    kw = dict(SMALL, guidance=3.0)
    plain = generate(pipe, ["a red circle moving left"], **kw)
    off = generate(pipe, ["a red circle moving left"], step_cache=0, **kw)
    every = generate(pipe, ["a red circle moving left"], step_cache=1e-12, **kw)  # never close enough to skip
    assert off.info["step_cache"] is None and torch.equal(off.latents, plain.latents)
    assert every.info["step_cache"] == {"threshold": 1e-12, "full_calls": 5, "skipped_calls": 0}
    assert torch.equal(every.latents, plain.latents)
    assert plain.latents.abs().sum() > 0


def test_large_threshold_skips_every_step_after_the_first_and_counts():
    pipe = _pipe("hunyuan-video")
    kw = dict(SMALL, guidance=3.0)
    plain = generate(pipe, ["a red circle"], **kw)
    batched = generate(pipe, ["a red circle"], step_cache=1e9, **kw)  # [cond; uncond] is one call a step
    assert batched.info["step_cache"] == {"threshold": 1e9, "full_calls": 1, "skipped_calls": 4}
    assert batched.info["model_calls"] == 5
    assert not torch.equal(batched.latents, plain.latents) and torch.isfinite(batched.latents).all()
    passes = generate(pipe, ["a red circle"], step_cache=1e9, cfg_batch=False, **kw)  # two passes a step
    assert passes.info["step_cache"] == {"threshold": 1e9, "full_calls": 2, "skipped_calls": 8}
    # a guidance interval switches CFG off at low sigmas: the single-pass calls start a cache of their own
    mixed = generate(pipe, ["a red circle"], step_cache=1e9, guidance_interval=(0.5, 1.0), shift=1.0, **kw)
    assert mixed.info["step_cache"]["full_calls"] == 2 and mixed.info["step_cache"]["skipped_calls"] == 3


class _Fake(torch.nn.Module):
    """A "DiT" whose first-block probe is given per call, so the cache's decisions can be steered."""

    def __init__(self, probes):
        super().__init__()
        self.probes = iter(probes)

    def forward(self, x):
        return x


def _fake_split(module):
    def head(x):
        return next(module.probes), x, None

    return DenoiserSplit(module, head, rest=lambda h, state: h + 1, finish=lambda h, state: h)


def _run(probes, threshold, calls_per_step=1):
    module = _Fake(probes)
    cache = stepcache.StepCache(_fake_split(module), threshold)
    step = cache.wrap(lambda x, sigma: [module(x) for _ in range(calls_per_step)][-1])
    with cache.installed():
        outs = [step(torch.zeros(2, 3), None) for _ in range(len(probes) // calls_per_step)]
    assert "forward" not in vars(module)  # the module's own forward is back
    return cache, outs


def test_one_decision_for_the_whole_batch():
    still = torch.ones(2, 3)
    # item 1 of the batch doubles each step while item 0 stays: the batch is computed, never half-skipped (a mean
    # over the batch, 50 % or more, would skip at 0.6)
    moving = [torch.stack([torch.ones(3), torch.ones(3) * 2**k]) for k in range(4)]
    cache, _ = _run(moving, threshold=0.6)
    assert (cache.full, cache.skipped) == (4, 0)
    cache, outs = _run([still] * 4, threshold=0.3)
    assert (cache.full, cache.skipped) == (1, 3)
    assert all(torch.equal(o, torch.ones(2, 3)) for o in outs)  # skipped calls add the cached residual
    # two passes a step (CFG without batching): the second follows the first's decision
    cache, _ = _run([still, moving[3], still, moving[0], still, moving[3]], threshold=0.3, calls_per_step=2)
    assert (cache.full, cache.skipped) == (2, 4)


def test_compares_with_the_last_full_call_so_drift_is_bounded():
    probes = [torch.ones(1, 4) * (1 + 0.04 * k) for k in range(6)]  # 4 % a step: skipped until 10 % have built up
    cache, _ = _run(probes, threshold=0.1)
    assert (cache.full, cache.skipped) == (2, 4)  # full at 0 and at 3 (12 % from 0), skips 1, 2, 4, 5


def test_cli_records_the_cache_and_from_replays_it(tmp_path, capsys):
    args = ["sample", "a red circle", "--pipeline", "hunyuan-video", "--config", "tiny", "--steps", "4",
            "--frames", "5", "--height", "32", "--width", "32", "--guidance", "3", "--step-cache", "1000"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "step cache skipped 3 of 4 DiT calls" in capsys.readouterr().err
    sidecar = next((tmp_path / "a").glob("*.json"))
    side = json.loads(sidecar.read_text())
    assert side["step_cache"] == {"threshold": 1000.0, "full_calls": 1, "skipped_calls": 3}
    assert side["settings"]["step_cache"] == 1000.0 and side["model_calls"] == 4
    assert main(["sample", "--from", str(sidecar), "--out", str(tmp_path / "b")]) == 0
    again = next((tmp_path / "b").glob("*.mp4"))
    assert again.read_bytes() == (tmp_path / "a" / side["video"]).read_bytes()


def _one_line_error(capsys, args, needle):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_pipelines_without_the_split_refuse_in_one_line(toy_registered, tmp_path, capsys):
    out = ["--steps", "2", "--out", str(tmp_path)]
    for name in ("toy", "toy-base"):  # a plain VideoPipeline, and PipelineBase's default
        _one_line_error(capsys, ["sample", "x", "--pipeline", name, "--step-cache", "0.1", *out],
                        f"pipeline {name} cannot cache steps")
    assert not list(tmp_path.glob("*.mp4"))
    assert main(["-q", "sample", "x", "--pipeline", "toy", "--step-cache", "0", *out]) == 0  # 0 is off: fine
    for bad in ("-1", "nan", "inf"):
        _one_line_error(capsys, ["sample", "x", "--step-cache", bad, *out], "step_cache")
    _one_line_error(capsys, ["sample", "x", "--step-cache", "0.1", "--engine", "onnx", *out],
                    "--step-cache speeds up vgen's own DiT")
