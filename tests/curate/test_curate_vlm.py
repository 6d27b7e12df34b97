"""Structured captions: the VLM captioner runs a local transformers folder (a tiny random LLaVA built here, with a
tokenizer trained from an in-memory corpus; nothing from a hub), parses and checks its JSON; the template writes the
same structure offline; the camera-motion prefix stays."""

import json

import pytest
from curate_data import FPS, H, W
from vgen_plugins.curation.vlm import FIELDS, parse_structured

from vgen.cli import main
from vgen.curate.synthetic import Scene, write_scenes
from vgen.io.manifest import read_manifest

ANSWER = {"short_description": "A colourful pattern drifts.", "dense_description": "Blobs and squares of many "
          "colours slide across the frame.", "background": "a mottled texture", "style": "synthetic",
          "shot_type": "wide", "lighting": "even", "atmosphere": "calm", "camera_motion": "pan left"}


def tiny_llava(folder, answer: str | None):
    """A tiny random LLaVA folder; with ``answer``, its weights are set so that greedy decoding emits it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["Describe this video clip as one JSON object with keys", json.dumps(ANSWER)] * 5
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=320, special_tokens=["<unk>", "<s>", "</s>", "<pad>",
                                                        "<image>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", extra_special_tokens={"image_token": "<image>"})
    if answer is not None:
        fast.add_tokens([answer])  # the whole answer as one token, so one decoding step gives it
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=32, patch_size=8)
    text = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(LlavaConfig(vision_config=vision, text_config=text,
                                                      image_token_index=fast.convert_tokens_to_ids("<image>")))
    if answer is not None:  # every text position's hidden state alike, and the answer token the only logit
        with torch.no_grad():
            lm = model.model.language_model
            lm.embed_tokens.weight.fill_(1.0)
            for layer in lm.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            model.lm_head.weight.zero_()
            model.lm_head.weight[fast.convert_tokens_to_ids(answer)] = 1.0
    template = ("{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %}"
                "{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}")
    processor = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                  crop_size={"height": 32, "width": 32}),
                               tokenizer=fast, patch_size=8, vision_feature_select_strategy="default",
                               num_additional_image_tokens=1, chat_template=template)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_parse_structured():
    text = 'Sure! {"oops": } then ' + json.dumps(ANSWER) + " and more {}"
    assert parse_structured(text) == ANSWER
    assert parse_structured(json.dumps({**ANSWER, "style": ["film", "grain"]}))["style"] == "film, grain"
    assert parse_structured(json.dumps({"short_description": "x"})) is None  # no dense description
    assert parse_structured(json.dumps({**ANSWER, "lighting": 3})) is None
    assert parse_structured("no json here") is None
    partial = parse_structured(json.dumps({"short_description": "a", "dense_description": "b"}))
    assert set(partial) == set(FIELDS) and partial["background"] == ""


def _run(tmp_path, model_dir, extra=""):
    inp = tmp_path / "in"
    inp.mkdir()
    write_scenes(inp / "a.mp4", [Scene(2.5, "pan right", 1)], FPS, W, H)
    recipe = tmp_path / "r.toml"
    recipe.write_text('[curate]\nmin_duration = 2.0\nmin_side = 32\ncaptioners = ["vlm", "template"]\n'
                      f'[curate.stage_options.vlm]\nmodel = "{model_dir}"\nmax_new_tokens = 2\nframes = 2\n{extra}')
    rc = main(["curate", str(inp), "--out", str(tmp_path / "out"), "--recipe", str(recipe)])
    return rc, read_manifest(tmp_path / "out" / "manifest.jsonl")


def test_vlm_structured_caption(tmp_path):
    pytest.importorskip("transformers")
    rc, records = _run(tmp_path, tiny_llava(tmp_path / "model", json.dumps(ANSWER)))
    assert rc == 0 and [r.status for r in records] == ["kept"]
    rec = records[0]
    label = rec.labels["camera_motion"]
    assert rec.labels["structured_caption"] == {**ANSWER, "camera_motion": label}
    assert rec.caption == f"{label}. {ANSWER['dense_description']}"
    assert rec.captions["vlm"] == ANSWER["dense_description"]


def test_vlm_without_json_falls_back_to_template(tmp_path):
    pytest.importorskip("transformers")
    rc, records = _run(tmp_path, tiny_llava(tmp_path / "model", None))
    rec = records[0]
    assert rc == 0 and "vlm" not in rec.captions and "no valid JSON" in rec.labels["vlm_error"]
    assert rec.caption == rec.captions["template"] and rec.caption.startswith(rec.labels["camera_motion"])
    structured = rec.labels["structured_caption"]
    assert set(structured) == set(FIELDS) and structured["short_description"] == rec.caption
    assert structured["camera_motion"] == rec.labels["camera_motion"] and structured["lighting"] == "evenly lit"


def test_vlm_needs_a_local_folder(tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    recipe = tmp_path / "r.toml"
    recipe.write_text('[curate]\ncaptioners = ["vlm"]\n[curate.stage_options.vlm]\nmodel = "org/some-hub-model"\n')
    assert main(["curate", str(inp), "--out", str(tmp_path / "o"), "--recipe", str(recipe)]) == 2
    assert "local model folder" in capsys.readouterr().err
