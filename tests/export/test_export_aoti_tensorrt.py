"""AOTInductor (CPU, slow: a C++ compile) and TensorRT (needs tensorrt and a GPU) exports of the tiny DiT."""

import json

import pytest
import torch

from vgen.cli import main

TINY = ["--pipeline", "hunyuan-video", "--config", "tiny"]


def _pipe():
    from vgen_plugins.hunyuan_video.pipeline import build

    return build(config="tiny")


@pytest.mark.slow
def test_aoti_package_of_the_tiny_dit_loads_and_matches(tmp_path):
    out = tmp_path / "aoti"
    assert main(["export", "aoti", *TINY, "--parts", "dit", "--out", str(out)]) == 0
    manifest = json.loads((out / "vgen-engine.json").read_text())
    assert list(manifest["parts"]["dit"]["files"]) == ["dit.pt2"]
    assert all(r["max_rel"] <= 1e-4 for r in manifest["parts"]["dit"]["parity"])

    # load the package on its own and compare with eager at a size the export did not use
    from vgen.export.capture import pipeline_parts

    part = pipeline_parts(_pipe(), ["dit"])[0]
    model = torch._inductor.aoti_load_package(str(out / "dit.pt2"))
    inputs = part.make_inputs({"batch": 2, "frames": 4, "height": 2, "width": 8, "text_len": 9},
                              generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = part.module(*inputs)
        got = model(*inputs)
    got = got[0] if isinstance(got, (list, tuple)) else got
    assert ((got - want).abs().max() / want.abs().max()).item() <= 1e-4

    # and inside the sampler loop
    from vgen.engines.standins import apply_engine
    from vgen.flow.loop import generate

    kwargs = dict(steps=2, frames=5, height=32, width=32, seed=1, progress=False)
    want = generate(_pipe(), ["a cat"], **kwargs).frames
    got = generate(apply_engine(_pipe(), "aoti", out), ["a cat"], **kwargs).frames
    assert (got - want).abs().max().item() <= 1e-3


@pytest.mark.gpu
def test_tensorrt_engine_of_the_tiny_dit(tmp_path):
    pytest.importorskip("tensorrt")
    out = tmp_path / "trt"
    cache = tmp_path / "timing.cache"
    assert main(["export", "tensorrt", *TINY, "--parts", "dit", "--device", "cuda", "--dtype", "fp16",
                 "--out", str(out), "--timing-cache", str(cache),
                 "--max", "batch=2,frames=9,height=64,width=64,text_len=16"]) == 0
    info = json.loads((out / "dit.plan.json").read_text())
    assert info["precision"] == "fp16" and info["tensorrt"]
    assert info["profiles"][0]["hidden_states"]["max"] == [2, 4, 3, 8, 8]
    assert cache.stat().st_size > 0
    manifest = json.loads((out / "vgen-engine.json").read_text())
    assert all(r["max_rel"] <= 2e-2 for r in manifest["parts"]["dit"]["parity"])

    from vgen.engines.standins import apply_engine
    from vgen.flow.loop import generate

    kwargs = dict(steps=2, frames=5, height=32, width=32, seed=1, progress=False, device="cuda")
    want = generate(_pipe().to("cuda"), ["a cat"], **kwargs).frames
    got = generate(apply_engine(_pipe().to("cuda"), "tensorrt", out), ["a cat"], **kwargs).frames
    assert (got - want).abs().max().item() <= 5e-2


def test_large_models_memory_map_their_weights(monkeypatch):
    from vgen_export.aoti import package as aoti_package

    module = torch.nn.Linear(64, 64)  # 16.6 kB of weights
    assert aoti_package.inductor_configs(module) == {}
    monkeypatch.setattr(aoti_package, "MMAP_WEIGHTS_BYTES", 16_000)
    assert aoti_package.inductor_configs(module) == {"aot_inductor.force_mmap_weights": True}


@pytest.mark.slow
def test_aoti_package_with_memory_mapped_weights_loads_and_matches(tmp_path, monkeypatch):
    # the path a model over MMAP_WEIGHTS_BYTES takes (the 710M mid DiT crashed on load without it)
    from vgen_export.aoti import package as aoti_package

    monkeypatch.setattr(aoti_package, "MMAP_WEIGHTS_BYTES", 0)
    out = tmp_path / "aoti"
    assert main(["export", "aoti", *TINY, "--parts", "dit", "--out", str(out)]) == 0  # parity gate inside
    manifest = json.loads((out / "vgen-engine.json").read_text())
    assert all(r["max_rel"] <= 1e-4 for r in manifest["parts"]["dit"]["parity"])


@pytest.mark.parametrize("probe, says", [
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "AOTInductor's loader crashed (SIGSEGV)"),
    ("raise SystemExit('RuntimeError: bad archive')", "AOTInductor could not load it: RuntimeError: bad archive"),
])
def test_a_package_whose_loader_dies_fails_the_export_with_one_line(tmp_path, monkeypatch, capsys, probe, says):
    """The package is loaded in a child first: a loader that dies in native code (torch 2.11+cu130 on an H200 did,
    for any package) ends the export with one line naming the file, not a dead process."""
    from vgen_export.aoti import package as aoti_package

    def fake_compile(program, package_path, inductor_configs):  # the C++ compile is the slow test's job
        open(package_path, "wb").write(b"not a real package")
        return package_path

    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", fake_compile)
    monkeypatch.setattr(aoti_package, "PROBE", probe)
    out = tmp_path / "aoti"
    assert main(["-q", "export", "aoti", *TINY, "--parts", "dit", "--out", str(out)]) != 0  # -q: the error only
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and "dit.pt2" in err[0], err
    assert "Traceback" not in err[0] and not (out / "vgen-engine.json").exists()
