"""Issue 33: the default model names the words it does not know, once, in one line with its grammar."""

import pytest

from vgen.cli import main


def test_prompt_warning_names_unknown_words_and_the_grammar():
    from vgen_plugins.shapes_model.pipeline import prompt_warning

    message = prompt_warning("a dog running on a beach")
    assert "'dog', 'running', 'beach'" in message and "\n" not in message
    assert "COLOUR red|green" in message and "README, 'The default model'" in message
    assert "outside the default model's grammar" in prompt_warning("red a circle moving right")
    for ok in ("a red circle moving right", "A large blue triangle bouncing on a black background.",
               "a small yellow square moving up and a green circle moving left"):
        assert prompt_warning(ok) is None


def test_sample_warns_once_per_prompt(tmp_path, capsys):
    args = ["sample", "a dog running on a beach", "a red circle moving right", "--pipeline", "shapes", "--config",
            "tiny", "--steps", "1", "--frames", "5", "--height", "32", "--width", "32", "--seed", "0", "--seed", "1",
            "--guidance", "2", "--out", str(tmp_path)]
    assert main(args) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "'dog', 'running', 'beach'" in warnings[0]


@pytest.mark.parametrize("needle", ["prompt        := object", "colour        := \"red\""])
def test_readme_model_card_has_the_grammar(needle):
    from pathlib import Path

    assert needle in (Path(__file__).parents[2] / "README.md").read_text()
