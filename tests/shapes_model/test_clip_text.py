"""The default model's text encoder and tokenizer against transformers' (the oracle): same numbers for the same
weights, and each one's folder loads in the other."""

import pytest
import torch

from vgen.io.checkpoint import load_into, write_weights

PROMPTS = ["a red circle moving right", "a small blue square bouncing and a large green triangle standing still "
           "on a gray background", "", "a purple blob"]


def _pair(eos_token_id=3, hidden_act="quick_gelu", layers=2):
    transformers = pytest.importorskip("transformers")
    from vgen_plugins.shapes_model.clip_text import CLIPTextConfig, CLIPTextModel

    spec = dict(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=4,
                max_position_embeddings=16, hidden_act=hidden_act, pad_token_id=0, bos_token_id=2,
                eos_token_id=eos_token_id, projection_dim=32)
    torch.manual_seed(0)
    ref = transformers.CLIPTextModel(transformers.CLIPTextConfig(**spec)).eval()
    ours = CLIPTextModel(CLIPTextConfig(**spec)).eval()
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _ids(eos=3):
    # two prompts padded on the right, one with an id above <eos> (the legacy pooling rule takes the highest id)
    ids = torch.tensor([[2, 7, 9, 12, eos, 0, 0, 0], [2, 30, 5, 6, 8, 11, 13, eos]])
    return ids, (ids != 0).long()


@pytest.mark.parametrize("eos_token_id,hidden_act", [(3, "quick_gelu"), (2, "quick_gelu"), (3, "gelu")])
def test_matches_transformers_clip_text_model(eos_token_id, hidden_act):
    ref, ours = _pair(eos_token_id, hidden_act)
    ids, mask = _ids(eos_token_id)
    with torch.no_grad():
        want, got = ref(input_ids=ids, attention_mask=mask), ours(input_ids=ids, attention_mask=mask)
        # every position that a real token holds, and the pooled state, within float rounding
        valid = mask.bool()
        assert torch.allclose(got.last_hidden_state[valid], want.last_hidden_state[valid], atol=1e-5, rtol=1e-5)
        assert torch.allclose(got.pooler_output, want.pooler_output, atol=1e-5, rtol=1e-5)
        # without a mask: plain causal attention
        assert torch.allclose(ours(ids).last_hidden_state, ref(input_ids=ids).last_hidden_state, atol=1e-5)


def test_a_change_in_one_weight_shows_in_the_output():  # the comparison above can fail
    ref, ours = _pair()
    ids, mask = _ids()
    with torch.no_grad():
        ours.encoder.layers[1].mlp.fc2.bias[0] += 0.01  # one feature (a shift of all, LayerNorm undoes)
        diff = (ours(ids, mask).pooler_output - ref(input_ids=ids, attention_mask=mask).pooler_output).abs().max()
    assert diff > 1e-3


def test_initialisation_follows_transformers():
    ref, _ = _pair(layers=4)
    from vgen_plugins.shapes_model.clip_text import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(1)
    ours = CLIPTextModel(CLIPTextConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                                        num_attention_heads=4, max_position_embeddings=16))
    want = dict(ref.named_parameters())
    for name, p in ours.named_parameters():  # same spread a tensor (random draws differ), same zeros and ones
        w = want[name]
        assert p.shape == w.shape, name
        if w.std() == 0:
            assert torch.equal(p, w), name
        else:
            assert 0.6 < p.std() / w.std() < 1.6, name


def test_folders_load_both_ways(tmp_path):
    transformers = pytest.importorskip("transformers")
    from vgen_plugins.shapes_model.clip_text import CLIPTextConfig, CLIPTextModel

    ref, ours = _pair()
    ids, mask = _ids()
    ref.save_pretrained(tmp_path / "theirs")  # transformers' folder -> ours
    mine = CLIPTextModel(CLIPTextConfig.from_json_file(tmp_path / "theirs" / "config.json"))
    load_into(mine, tmp_path / "theirs", key_map=CLIPTextModel.key_map)
    write_weights(tmp_path / "ours", ours.state_dict(), "10MB", weights_name="model.safetensors")  # ours -> theirs
    ours.config.to_json_file(tmp_path / "ours" / "config.json")
    back = transformers.CLIPTextModel.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        want = ref(input_ids=ids, attention_mask=mask).pooler_output
        assert torch.allclose(mine(ids, mask).pooler_output, want, atol=1e-5)
        assert torch.allclose(back(input_ids=ids, attention_mask=mask).pooler_output, want, atol=1e-5)


def test_old_transformers_keys_load(tmp_path):
    from vgen_plugins.shapes_model.clip_text import CLIPTextModel

    _, ours = _pair()
    write_weights(tmp_path, {f"text_model.{k}": v for k, v in ours.state_dict().items()}, "10MB",
                  weights_name="model.safetensors")
    again = CLIPTextModel(ours.config)
    load_into(again, tmp_path, key_map=CLIPTextModel.key_map)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), ours.state_dict().values(),
                                                 strict=True))


def test_tokenizer_matches_transformers_both_ways(tmp_path):
    transformers = pytest.importorskip("transformers")
    from vgen_plugins.shapes_model.pipeline import MAX_TOKENS, make_tokenizer
    from vgen_plugins.shapes_model.tokenizer import WordTokenizer

    ours = make_tokenizer()
    ours.save_pretrained(tmp_path / "ours")
    theirs = transformers.PreTrainedTokenizerFast.from_pretrained(str(tmp_path / "ours"))
    theirs.save_pretrained(tmp_path / "theirs")
    back = WordTokenizer.from_pretrained(tmp_path / "theirs")
    long = " and ".join(["a small red circle moving right"] * 4)  # 27 words: cut to 32 tokens, <eos> kept
    for kwargs in ({}, {"padding": "max_length", "truncation": True, "max_length": MAX_TOKENS},
                   {"add_special_tokens": False}, {"padding": True}):
        for tok in (ours, back):
            assert tok(PROMPTS + [long], **kwargs) == {k: theirs(PROMPTS + [long], **kwargs)[k]
                                                       for k in ("input_ids", "attention_mask")}, kwargs
    for name in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        assert getattr(back, name) == getattr(theirs, name) == getattr(ours, name)
    assert len(back) == len(theirs) == len(ours)
    pt = ours(PROMPTS, padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    want = theirs(PROMPTS, padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    assert torch.equal(pt["input_ids"], want["input_ids"]) and torch.equal(pt["attention_mask"],
                                                                          want["attention_mask"])


def test_shipped_folder_loads_in_transformers_with_the_same_numbers():
    transformers = pytest.importorskip("transformers")
    from vgen_plugins.shapes_model.pipeline import WEIGHTS_DIR, ShapesPipeline

    if not (WEIGHTS_DIR / "model_index.json").is_file():
        pytest.skip("no shipped weights in this build")
    pipe = ShapesPipeline.load(WEIGHTS_DIR)
    ref = transformers.CLIPTextModel.from_pretrained(WEIGHTS_DIR / "text_encoder").eval()
    theirs = transformers.PreTrainedTokenizerFast.from_pretrained(str(WEIGHTS_DIR / "tokenizer"))
    text = pipe.encode_prompt(PROMPTS[:2])
    assert torch.equal(text["input_ids"], theirs(PROMPTS[:2], padding="max_length", truncation=True, max_length=32,
                                                 return_tensors="pt")["input_ids"])
    with torch.no_grad():
        got = pipe.text_encoder(text["input_ids"], text["attention_mask"]).pooler_output
        want = ref(input_ids=text["input_ids"], attention_mask=text["attention_mask"]).pooler_output
    assert torch.allclose(got.float(), want.float(), atol=2e-2)  # bf16 weights: bf16 rounding
