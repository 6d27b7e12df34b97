"""docs/plugins.md documents every hook (and no hook that is gone), every meta key vgen reads, and its examples are
plugins that load and work."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vgen.contract
from vgen import hookspecs, plugins

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins.md"


def _sections() -> dict[str, str]:
    """``## `register_x``` heading -> the section's text."""
    parts = re.split(r"^## ", DOC.read_text(), flags=re.M)
    out = {}
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        m = re.fullmatch(r"`(\w+)`", heading.strip())
        if m:
            out[m.group(1)] = body
    return out


def _examples() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.M | re.S)


def test_every_hook_has_a_section_and_every_section_a_hook():
    documented = set(_sections())
    assert documented - plugins.HOOK_NAMES == set(), "documented hooks that do not exist"
    assert plugins.HOOK_NAMES - documented == set(), "hooks missing from docs/plugins.md"


def test_each_hook_names_its_protocol_in_the_docs_and_the_hookspec():
    for hook, body in _sections().items():
        if hook == "register_commands":
            continue
        named = set(re.findall(r"vgen\.contract\.(\w+)", body))
        assert named and named <= set(vgen.contract.__all__), (hook, named)
        assert "Factory:" in body and "Meta keys vgen reads:" in body, hook
        assert set(re.findall(r"vgen\.contract\.(\w+)", getattr(hookspecs, hook).__doc__)) & named, hook


def test_every_meta_key_vgen_reads_is_documented():
    read = set()  # a backend's meta is read as ``backend.meta.get("key")`` or ``backend.meta["key"]``
    for path in [*(ROOT / "vgen").rglob("*.py"), *(ROOT / "export").rglob("*.py")]:
        read |= set(re.findall(r"""\.meta\.get\(["'](\w+)["']|\.meta\[["'](\w+)["']\]""", path.read_text()))
    keys = {k for pair in read for k in pair if k}
    assert "kind" in keys and "uses_shift" in keys  # the scan finds them
    documented = set()
    for line in re.findall(r"^- Meta keys vgen reads: (.*?)(?:\n\S|\n\n|\Z)", DOC.read_text(), flags=re.M | re.S):
        while re.search(r"\([^()]*\)", line):  # asides in parentheses name values, not keys
            line = re.sub(r"\([^()]*\)", "", line)
        documented |= set(re.findall(r"`(\w+)`", line))
    assert keys - documented == set(), "meta keys vgen reads that docs/plugins.md does not list"
    assert documented - keys == set(), "meta keys docs/plugins.md lists that vgen does not read"


@pytest.fixture(scope="module")
def doc_plugins(tmp_path_factory):
    folder = tmp_path_factory.mktemp("doc_plugins")
    for i, code in enumerate(_examples()):
        (folder / f"doc_example_{i}.py").write_text(code)
    env = {**os.environ, "VGEN_PLUGINS_DIR": str(folder)}

    def run(*args):
        res = subprocess.run([sys.executable, "-m", "vgen", *map(str, args)], capture_output=True, text=True,
                             env=env, cwd=folder)
        assert res.returncode == 0 and "warning:" not in res.stderr, res.stderr
        return res

    return run, folder


def test_examples_load_as_plugins(doc_plugins):
    run, _ = doc_plugins
    data = json.loads(run("plugins", "--json").stdout)
    rows = {r["plugin"]: r for r in data["plugins"] if r["plugin"].startswith("doc_example_")}
    assert len(rows) == len(_examples()) and data["failures"] == []
    registered = {(b["kind"], b["name"]) for r in rows.values() for b in r["backends"]}
    assert registered == {("pipeline", "pixels"), ("sampler", "midpoint"), ("schedule", "cosine"),
                          ("curation_stage", "luma"), ("exporter", "torch-program"),
                          ("audio_model", "beeps"),
                          ("editor", "blend")}


def test_example_pipeline_sampler_and_schedule_sample_a_video(doc_plugins):
    run, folder = doc_plugins
    res = run("sample", "a test", "--pipeline", "pixels", "--sampler", "midpoint", "--schedule", "cosine",
              "--steps", 3, "--out", folder / "out", "--json")
    sidecar = json.loads((folder / json.loads(res.stdout)["sidecar"]).read_text())
    assert (sidecar["sampler"], sidecar["schedule"], sidecar["model_calls"]) == ("midpoint", "cosine", 6)
    assert run("hello", "--name", "docs").stdout.strip() == "hello docs"
    run("edit", folder / "out" / sidecar["video"], "--source-prompt", "a test", "--target-prompt", "a toast",
        "--method", "blend", "--pipeline", "pixels", "--steps", 2, "--out", folder / "edited")
    edited = json.loads(next((folder / "edited").glob("*.json")).read_text())
    assert (edited["method"], edited["edit"]) == ("blend", {"strength": 0.5})
