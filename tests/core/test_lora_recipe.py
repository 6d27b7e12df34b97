"""Issue 33: the documented LoRA recipe resolves, and training without --weights says it starts from random
weights (the shipped weights: no note)."""

import torch

from vgen.settings import load_section, resolve_recipe


def test_lora_recipe_resolves_with_adapters_on_the_default_model():
    recipe = resolve_recipe("shapes-lora")
    train = recipe["train"]
    assert train["pipeline"] == "shapes" and train["lora_rank"] == 16 and "to_q" in train["lora_targets"]
    assert load_section("train", "shapes-lora", {"weights": "plugins/shapes_model/weights"}).lora_rank == 16


def test_training_without_weights_says_it_starts_from_random_weights(capsys):
    from vgen_plugins.shapes_model.pipeline import WEIGHTS_DIR

    from vgen.train.settings import TrainSettings
    from vgen.train.trainer import build_pipeline

    build_pipeline(TrainSettings(pipeline="shapes", config="tiny"), torch.device("cpu"))
    err = capsys.readouterr().err
    assert "no --weights: shapes starts from random weights (config 'tiny')" in err
    build_pipeline(TrainSettings(pipeline="shapes", weights=WEIGHTS_DIR), torch.device("cpu"))
    assert "random weights" not in capsys.readouterr().err


def test_lora_docs_name_the_recipe_and_diffusers_loading():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "lora.md").read_text()
    assert "--recipe shapes-lora" in text and "load_lora_adapter" in text and "--weights" in text
