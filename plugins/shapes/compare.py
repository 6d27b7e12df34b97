"""Compare two ``vgen eval shapes`` reports of the same prompts, prompt by prompt (``vgen eval compare``).

Two models scored on the same 200 prompts differ mostly on a few prompts that either gets right by luck: the same
weights scored on a CPU and on a GPU change the outcome of ~4% of the prompts through arithmetic alone. A paired
test says whether a difference is more than that: for each attribute, count the prompts only A gets right and those
only B gets right; under "no difference" each such prompt is a fair coin (McNemar's exact test, a two-sided
binomial sign test on the discordant prompts).
"""

from __future__ import annotations

import json
from math import comb
from pathlib import Path

from vgen.errors import UserError

from .evaluate import ATTRIBUTES, by_group


def sign_test_p(only_a: int, only_b: int) -> float:
    """Two-sided exact binomial p-value of ``only_a`` against ``only_b`` discordant pairs at p = 1/2."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def read_report(path: str | Path) -> dict[str, dict]:
    """The per-video results of a report, keyed by video file name (what ``vgen sample`` names by index, prompt and
    seed, so two runs over one prompt file share names)."""
    path = Path(path)
    try:
        report = json.loads(path.read_text())
        videos = report["videos"]
    except FileNotFoundError:
        raise UserError(f"{path}: no such report (write one with `vgen eval shapes DIR --json {path}`)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a `vgen eval shapes` report ({type(exc).__name__}: {exc})") from None
    for i, v in enumerate(videos if isinstance(videos, list) else [None]):  # the fields compare reads, by schema
        ok = (isinstance(v, dict) and isinstance(v.get("video"), str) and isinstance(v.get("prompt"), str)
              and type(v.get("n_objects")) is int and all(type(v.get(k)) is bool for k in ATTRIBUTES))
        if not ok:
            raise UserError(f"{path}: not a `vgen eval shapes` report (video {i}: needs video, prompt, n_objects "
                            f"and the booleans {', '.join(ATTRIBUTES)})")
    return {Path(v["video"]).name: v for v in videos}


def compare(a_path: str | Path, b_path: str | Path) -> dict:
    """Paired comparison of two reports on the videos both hold (the same file name and the same prompt)."""
    a, b = read_report(a_path), read_report(b_path)
    names = sorted(n for n in a.keys() & b.keys() if a[n]["prompt"] == b[n]["prompt"])
    if not names:
        raise UserError(f"{a_path} and {b_path} share no video (same file name and prompt): score the same "
                        "prompt file with both models")
    groups = by_group(names, n_objects=lambda n: a[n]["n_objects"])
    out: dict = {"a": str(a_path), "b": str(b_path), "paired": len(names),
                 "only_in_a": len(a.keys() - set(names)), "only_in_b": len(b.keys() - set(names)), "groups": {}}
    for group, rows in groups.items():
        entry: dict = {"n": len(rows)}
        for key in ATTRIBUTES:
            only_a = sum(bool(a[n][key]) and not b[n][key] for n in rows)
            only_b = sum(bool(b[n][key]) and not a[n][key] for n in rows)
            entry[key] = {"a": sum(bool(a[n][key]) for n in rows) / len(rows) if rows else None,
                          "b": sum(bool(b[n][key]) for n in rows) / len(rows) if rows else None,
                          "only_a": only_a, "only_b": only_b, "p": sign_test_p(only_a, only_b)}
        out["groups"][group] = entry
    return out
