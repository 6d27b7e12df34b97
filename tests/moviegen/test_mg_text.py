"""MovieGen text encoders: UL2 / ByT5 / MetaCLIP outputs equal transformers' own models run directly; ByT5 reads
only quoted text; the FPS token; 256 MetaCLIP positions; folders round-trip."""

import pytest
import torch
from transformers import ByT5Tokenizer, CLIPTextModel, T5EncoderModel
from vgen_plugins.moviegen.pipeline import PRESETS, save_components
from vgen_plugins.moviegen.text_encoders import encode, load_encoder, quoted, tiny_encoders, with_fps

from vgen.errors import UserError

PROMPTS = ['a sign that reads "OPEN" hangs on a door', "a cat walks on the grass, " * 30]


@pytest.fixture(scope="module")
def encoders():
    torch.manual_seed(0)
    return tiny_encoders(PRESETS["tiny"]["text"])


def _direct(encoder, texts):
    tok = encoder.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        return encoder.model(**tok).last_hidden_state, tok["attention_mask"]


def test_outputs_equal_transformers(encoders):
    assert isinstance(encoders["ul2"].model, T5EncoderModel) and isinstance(encoders["metaclip"].model, CLIPTextModel)
    assert isinstance(encoders["byt5"].tokenizer, ByT5Tokenizer)
    out = encode(encoders, PROMPTS, fps=16)
    for name in ("ul2", "metaclip"):
        ref, mask = _direct(encoders[name], [f"FPS-16 {p}" for p in PROMPTS])
        assert torch.equal(out[f"{name}_mask"], mask)
        torch.testing.assert_close(out[name], ref, rtol=0, atol=0)
    ref, mask = _direct(encoders["byt5"], ["OPEN", ""])
    torch.testing.assert_close(out["byt5"], ref, rtol=0, atol=0)
    assert out["byt5_mask"][0].sum() == len("OPEN") + 1 and out["byt5_mask"][1].sum() == 0  # bytes + </s>; no quote


def test_prompt_parts(encoders):
    assert quoted('a sign reads "OPEN" and \u201cEXIT\u201d') == "OPEN EXIT" and quoted("no quotes") == ""
    assert with_fps("a cat", 16) == "FPS-16 a cat"
    tokens = encoders["metaclip"].count_tokens(with_fps(PROMPTS[1], 16))
    out = encode(encoders, PROMPTS, fps=16)
    assert out["metaclip"].shape[1] == min(tokens, 256) > 77  # a long prompt, past CLIP's usual 77


def test_folders_round_trip(encoders, tmp_path):
    save_components(tmp_path, encoders)
    loaded = {name: load_encoder(name, tmp_path) for name in encoders}
    a, b = encode(encoders, PROMPTS, 16), encode(loaded, PROMPTS, 16)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    with pytest.raises(UserError, match="missing folder: .*tokenizer_3"):
        import shutil

        shutil.rmtree(tmp_path / "tokenizer_3")
        load_encoder("metaclip", tmp_path)
