import json

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict

from vgen import settings
from vgen.cli import main
from vgen.errors import UserError


@settings.section("demo")
class DemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VGEN_DEMO_", extra="forbid")
    steps: int = 50
    shift: float = 7.0
    sampler: str = "flow-euler"


def test_precedence_defaults_recipe_env_cli(tmp_path, monkeypatch):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[demo]\nsteps = 20\nshift = 5.0\nsampler = "flow-heun"\n')
    s = settings.load_section("demo")
    assert (s.steps, s.shift, s.sampler) == (50, 7.0, "flow-euler")  # defaults
    s = settings.load_section("demo", recipe)
    assert (s.steps, s.shift, s.sampler) == (20, 5.0, "flow-heun")  # recipe over defaults
    monkeypatch.setenv("VGEN_DEMO_STEPS", "30")
    monkeypatch.setenv("VGEN_DEMO_SHIFT", "3")
    s = settings.load_section("demo", recipe, {"steps": 40, "sampler": None})
    assert (s.steps, s.shift, s.sampler) == (40, 3.0, "flow-heun")  # CLI > env > recipe; None = flag not given


def test_invalid_recipe_names_file_field_reason(tmp_path, capsys):
    recipe = tmp_path / "bad.toml"
    recipe.write_text('[demo]\nsteps = "many"\n')
    with pytest.raises(UserError, match=r"bad\.toml.*'steps'.*integer"):
        settings.load_section("demo", recipe)
    assert main(["recipes", "show", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.toml" in err and "steps" in err
    recipe.write_text("[nosuchsection]\nx = 1\n")
    assert main(["recipes", "show", str(recipe)]) == 2
    recipe.write_text("[demo\n")
    assert main(["recipes", "show", str(recipe)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_recipes_show_resolves_every_section(tmp_path, capsys, monkeypatch):
    recipe = tmp_path / "ok.toml"
    recipe.write_text('description = "demo"\ndevice = "cpu"\n[demo]\nsteps = 3\n')
    monkeypatch.setenv("VGEN_DEMO_SHIFT", "2.5")
    assert main(["recipes", "show", str(recipe)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["device"] == "cpu" and data["demo"] == {"steps": 3, "shift": 2.5, "sampler": "flow-euler"}


def test_recipes_list_and_show_shipped(capsys):
    assert main(["recipes", "list"]) == 0
    names = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert names == settings.recipe_names()
    for name in names:
        assert main(["recipes", "show", name]) == 0, name
        json.loads(capsys.readouterr().out)


def test_recipes_in_group_folders_are_found_by_name(tmp_path, monkeypatch):
    (tmp_path / "group").mkdir()
    (tmp_path / "top.toml").write_text('description = "top"\n')
    (tmp_path / "group" / "inner.toml").write_text('description = "inner"\n[demo]\nsteps = 7\n')
    monkeypatch.setattr(settings, "recipe_dir", lambda: tmp_path)
    assert settings.recipe_names() == ["top", "inner"]
    assert settings.load_section("demo", "inner").steps == 7
    assert settings.recipe_path("group/inner") == tmp_path / "group" / "inner.toml"
    (tmp_path / "group" / "top.toml").write_text("")
    with pytest.raises(UserError, match="two shipped recipes are named 'top'"):
        settings.recipe_path("top")
