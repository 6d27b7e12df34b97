"""Settings with one precedence everywhere: defaults < recipe file (TOML) < ``VGEN_*`` environment < CLI flags.

A recipe is a TOML file in ``recipes/`` or one of its folders (named by its file name without ``.toml``; the folders
only group them, e.g. ``recipes/default-model/`` holds the default model's training steps) or any path. Its tables are
sections
(``[sample]``, ``[train]``, ``[model]`` ...); each section is validated by the settings class that a stage declared
with ``@section("name")``. The environment for section ``train`` is ``VGEN_TRAIN_<FIELD>``; global settings
(``VgenSettings``) read ``VGEN_<FIELD>`` and sit at the top level of the recipe.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from vgen.errors import UserError

SECTIONS: dict[str, type[BaseSettings]] = {}

# validation helpers for settings fields: every number finite and in range (a NaN guidance would write black videos
# and a sidecar that is not JSON; a seed must fit the 64 bits torch seeds with)
Finite = Annotated[float, Field(allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=0, lt=2**64)]
Positive = Annotated[int, Field(ge=1)]


def section(name: str):
    """Class decorator: declare the settings class of a recipe section."""

    def wrap(cls):
        SECTIONS[name] = cls
        return cls

    return wrap


class VgenSettings(BaseSettings):
    """Settings every command shares."""

    model_config = SettingsConfigDict(env_prefix="VGEN_", extra="forbid")

    description: str = ""  # one line shown by `vgen recipes list`
    plugins_dir: Path | None = None  # a folder of extra plugins (.py files or packages)
    load_plugins: str | None = None  # comma-separated third-party plugins to load; unset loads all
    device: str = "auto"  # "auto" picks cuda when present, else cpu
    dtype: str = "auto"  # "auto" is bf16 on cuda and fp32 on cpu
    cache_dir: Path = Path("~/.cache/vgen")


SECTIONS[""] = VgenSettings


class _RecipeSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls, data: dict):
        super().__init__(settings_cls)
        self.data = data

    def get_field_value(self, field, field_name):
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def recipe_dir() -> Path:
    return Path(str(resources.files("vgen_recipes")))


def shipped_recipes() -> dict[str, Path]:
    """Every recipe that ships, by name: ``recipes/*.toml`` and ``recipes/GROUP/*.toml``, top level first."""
    root = recipe_dir()
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.toml"), key=lambda p: (len(p.relative_to(root).parts), p.relative_to(root))):
        if path.stem in found:
            raise UserError(f"two shipped recipes are named {path.stem!r}: {found[path.stem]} and {path}")
        found[path.stem] = path
    return found


def recipe_names() -> list[str]:
    return list(shipped_recipes())


def recipe_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UserError(f"recipe file not found: {path}")
        return path
    grouped = recipe_dir() / f"{name_or_path}.toml"  # GROUP/NAME names the file itself
    if "/" in str(name_or_path) and grouped.is_file():
        return grouped
    recipes = shipped_recipes()
    if str(name_or_path) not in recipes:
        raise UserError(f"unknown recipe {str(name_or_path)!r}; known: {', '.join(recipes) or 'none'}")
    return recipes[str(name_or_path)]


def read_recipe(name_or_path: str | Path) -> tuple[Path, dict]:
    path = recipe_path(name_or_path)
    try:
        return path, tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None


def resolve(cls: type[BaseSettings], recipe_data: dict | None = None, overrides: dict | None = None,
            source: str = "recipe"):
    """Build ``cls`` from defaults < ``recipe_data`` < environment < ``overrides`` (None values are dropped)."""
    recipe_data = recipe_data or {}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}

    class Resolved(cls):
        @classmethod
        def settings_customise_sources(cls_, settings_cls, init_settings, env_settings, dotenv_settings,
                                       file_secret_settings):
            return (init_settings, env_settings, _RecipeSource(settings_cls, recipe_data))

    Resolved.__name__ = cls.__name__
    try:
        return Resolved(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        raise UserError(f"{source}: field {field!r}: {err['msg']}") from None


def _section_of(name: str, data: dict) -> dict:
    if name == "":
        return {k: v for k, v in data.items() if not isinstance(v, dict)}
    return data.get(name, {})


def load_section(name: str, recipe: str | Path | None = None, overrides: dict | None = None):
    """The resolved settings of one section, e.g. ``load_section("sample", "shapes-tiny", {"steps": 10})``."""
    _load_stage_sections()
    if name not in SECTIONS:
        raise UserError(f"unknown recipe section {name!r}; known: {', '.join(sorted(s for s in SECTIONS if s))}")
    path, data = read_recipe(recipe) if recipe else (None, {})
    return resolve(SECTIONS[name], _section_of(name, data), overrides, source=f"{path}" if path else "settings")


def resolve_recipe(recipe: str | Path) -> dict[str, Any]:
    """Every section of a recipe, validated and fully resolved (what ``vgen recipes show`` prints)."""
    _load_stage_sections()
    path, data = read_recipe(recipe)
    unknown = [k for k, v in data.items() if isinstance(v, dict) and k not in SECTIONS]
    if unknown:
        raise UserError(f"{path}: field {unknown[0]!r}: unknown section; known: "
                        f"{', '.join(sorted(s for s in SECTIONS if s))}")
    out: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        if name and name not in data:
            continue
        settings = resolve(cls, _section_of(name, data), source=str(path))
        dumped = settings.model_dump(mode="json")
        if name:
            out[name] = dumped
        else:
            out.update(dumped)
    return out


def _load_stage_sections() -> None:
    """Stages declare their sections when imported; plugins may declare more."""
    from vgen import plugins

    plugins.load_plugins()
    import importlib

    for module in ("vgen.models_settings", "vgen.sample.settings", "vgen.train.settings", "vgen.curate.settings",
                   "vgen.export.settings"):
        importlib.import_module(module)  # [model], [sample], [train], [curate], [export]
