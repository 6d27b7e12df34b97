"""benchmarks/moviegen_dit.py at a tiny size on the CPU: the 30B count and the memory plan it prints."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


def test_smoke(capsys):
    import moviegen_dit

    out = moviegen_dit.main(["--smoke"])
    assert 29.0 < out["params_B"] < 30.5 and out["params"]["per_block"] * 48 == out["params"]["blocks"]
    one, eight = out["memory_plan_73k_tokens"]
    assert not one["fits_80GB"] and eight["fits_80GB"] and eight["tokens_per_gpu"] == 73728 // 8
    assert out["forward"]["tokens"] == 8 and out["forward"]["s_per_forward"] > 0
    assert '"params_B"' in capsys.readouterr().out
