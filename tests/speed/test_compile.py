"""``vgen sample --compile``: the DiT's blocks compiled, compile time apart from sampling time, and the compiled
kernels cached on disk so that a second process loads them instead of compiling again."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from vgen import compile as compiling
from vgen.pipeline import build

TINY = ["--pipeline", "shapes", "--config", "tiny", "--steps", "2", "--frames", "1", "--height", "16", "--width",
        "16", "--guidance", "1"]


def _sample(out: Path, cache: Path, *extra) -> dict:
    env = {**os.environ, "VGEN_COMPILE_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    res = subprocess.run([sys.executable, "-m", "vgen", "sample", "a red circle", *TINY, "--out", str(out), *extra],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    side = json.loads(next(out.glob("*.json")).read_text())
    side["_stderr"] = res.stderr
    return side


def test_second_run_loads_the_compiled_kernels_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = _sample(tmp_path / "a", cache, "--compile")
    assert first["settings"]["compile"] is True
    c1 = first["compile"]
    assert c1["cache_dir"] == str(cache) and c1["cache_misses"] >= 1 and c1["cache_hits"] == 0
    assert first["timings"]["compile"] == c1["seconds"] > 0  # apart from denoise, not inside it
    assert first["timings"]["denoise"] < c1["seconds"]
    assert any((cache / "fxgraph").rglob("*")) and "compile" in first["_stderr"]

    second = _sample(tmp_path / "b", cache, "--compile")
    c2 = second["compile"]
    assert c2["cache_hits"] == c1["cache_misses"] and c2["cache_misses"] == 0
    assert c2["seconds"] < c1["seconds"]
    assert "cached graphs" in second["_stderr"]


def test_without_the_flag_nothing_is_compiled(tmp_path):
    side = _sample(tmp_path / "a", tmp_path / "cache")
    assert side["compile"] is None and "compile" not in side["timings"] and not (tmp_path / "cache").exists()


def test_regional_compile_finds_the_blocks():
    hv = build("shapes", config="tiny")
    assert compiling.dit_module(hv) is hv.transformer.dit  # the DiT proper, not the text encoder before it
    assert compiling.compile_dit(hv) == "blocks"
    assert all(b._compiled_call_impl is not None for b in hv.transformer.dit.transformer_blocks)
    assert hv.transformer.text_encoder._compiled_call_impl is None
    mg = build("moviegen", config="tiny")  # no compile_repeated_blocks: its ModuleList of blocks
    assert compiling.compile_dit(mg) == "blocks"
    assert all(b._compiled_call_impl is not None for b in mg.transformer.blocks)

    class Plain:  # a pipeline without the split, whose denoiser has no block list: compiled whole
        transformer = torch.nn.Conv3d(4, 4, 1)

    assert compiling.compile_dit(Plain()) == "whole" and Plain.transformer._compiled_call_impl is not None


def test_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv("VGEN_COMPILE_CACHE", raising=False)
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("VGEN_CACHE_DIR", str(tmp_path / "vgen"))
    assert compiling.cache_dir() == tmp_path / "vgen" / "compile"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    assert compiling.cache_dir() == tmp_path / "inductor"
    monkeypatch.setenv("VGEN_COMPILE_CACHE", str(tmp_path / "mine"))
    assert compiling.cache_dir() == tmp_path / "mine"


def test_load_takes_the_fast_modes(monkeypatch):
    import vgen
    from vgen.nn import fp8

    calls = []
    monkeypatch.setattr(fp8, "to_fp8", lambda module: calls.append(("fp8", type(module).__name__)) or 1)
    monkeypatch.setattr(compiling, "compile_dit", lambda pipe: calls.append(("compile", pipe.name)) or "blocks")
    pipe = vgen.load("shapes", config="tiny", compile=True, fp8=True)
    assert calls == [("fp8", "HunyuanVideoTransformer3DModel"), ("compile", "shapes")]  # FP8 layers, then compiled
    calls.clear()
    vgen.load("shapes", config="tiny")
    assert calls == [] and pipe.transformer.dit.transformer_blocks
