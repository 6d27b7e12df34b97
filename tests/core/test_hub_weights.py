"""Issue 33: ``--weights org/name`` resolves from a Hugging Face cache folder (the snapshot layout), offline."""

import json

import pytest

from vgen.cli import main
from vgen.errors import UserError
from vgen.io.hub import is_hub_id, resolve_weights


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """HF_HOME with models--org--shapes/snapshots/<rev>/ (the shipped weights, linked) + refs/main, offline."""
    from vgen_plugins.shapes_model.pipeline import WEIGHTS_DIR

    repo = tmp_path / "hf" / "hub" / "models--org--shapes"
    snapshot = repo / "snapshots" / "0123abcd"
    for f in WEIGHTS_DIR.rglob("*"):
        if f.is_file():
            (snapshot / f.relative_to(WEIGHTS_DIR)).parent.mkdir(parents=True, exist_ok=True)
            (snapshot / f.relative_to(WEIGHTS_DIR)).symlink_to(f)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return snapshot


def test_hub_ids_and_local_folders(tmp_path, monkeypatch):
    assert is_hub_id("org/name") and is_hub_id("hunyuanvideo-community/HunyuanVideo@main")
    assert not is_hub_id("/abs/folder") and not is_hub_id("./a/b") and not is_hub_id("a/b/c")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert resolve_weights("org/name") == "org/name"  # a local folder wins
    assert resolve_weights(None) is None


def test_resolves_from_the_cache_offline(hub_cache):
    assert resolve_weights("org/shapes") == hub_cache
    assert resolve_weights("org/shapes@main") == hub_cache
    with pytest.raises(UserError, match="not in the Hugging Face cache .* HF_HUB_OFFLINE"):
        resolve_weights("org/missing")


def test_sample_and_load_take_a_hub_id(hub_cache, tmp_path, capsys):
    import vgen

    pipe = vgen.load("shapes", weights="org/shapes")
    assert pipe.weight_files()[0].is_relative_to(hub_cache)
    assert main(["-q", "sample", "a red circle moving right", "--weights", "org/shapes", "--steps", "1", "--out",
                 str(tmp_path / "o")]) == 0
    side = json.loads((tmp_path / "o" / "000-a-red-circle-moving-right-seed0.json").read_text())
    assert side["weights"] == str(hub_cache) and "transformer/config.json" not in side["weight_sha256"]
    assert any(k.startswith("transformer/") for k in side["weight_sha256"])
