"""The instruction editor's own words: its tokenizer knows every word of the instruction forms (the default model's
ids unchanged), the new rows read as <unk> until trained, are saved and loaded with the editor, and the recipe
trains them; the batched sampler the held-out check uses is the editor's; the held-out check runs on a tiny model."""

import json

import pytest
import torch


def _tiny():
    from vgen_plugins.shapes_edit.pipeline import build

    torch.manual_seed(0)
    return build(config="tiny")


def _instructions() -> list[str]:
    from vgen_plugins.shapes.edit_pairs import KINDS, make_pair

    return [make_pair(3, i, kind).instruction for kind in KINDS for i in range(3)] + \
        ["make the red circle bounce", "make the red circle stand still", "change the background to gray"]


def test_tokenizer_knows_every_instruction_word_and_keeps_the_base_ids():
    from vgen_plugins.shapes_edit.pipeline import INSTRUCTION_WORDS

    pipe = _tiny()
    tok, base = pipe.tokenizer, pipe.base_tokenizer
    unk = tok.unk_token_id
    for text in _instructions():
        ids = tok(text)["input_ids"]
        assert unk not in ids, text
    caption = "a small red circle moving left and a large blue square bouncing on a gray background"
    assert tok(caption)["input_ids"] == base(caption)["input_ids"]
    assert len(tok) == len(base) + len(INSTRUCTION_WORDS)
    remove, colour = tok("remove the red circle")["input_ids"], tok("make the red circle blue")["input_ids"]
    assert remove[1] != colour[1]  # the verbs that were one <unk> are told apart
    assert base("remove the red circle")["input_ids"][1] == base("make the red circle blue")["input_ids"][1] == unk


def test_new_rows_read_as_unk_until_trained():
    pipe = _tiny()
    emb = pipe.transformer.text_encoder.embeddings.token_embedding
    ids = pipe.tokenizer("remove the red circle", return_tensors="pt")["input_ids"]
    unk = torch.full_like(ids, pipe.tokenizer.unk_token_id)
    new = ids >= emb.num_embeddings
    assert new.sum() == 2  # remove, the
    with torch.no_grad():
        assert torch.equal(emb(ids)[new], emb(unk)[new])
        torch.nn.init.normal_(pipe.word_rows.weight)
        assert not torch.allclose(emb(ids)[new], emb(unk)[new])
        assert torch.equal(emb(ids)[~new], emb.plain()(ids.clamp(max=emb.num_embeddings - 1))[~new])


def test_word_rows_are_saved_and_loaded(tmp_path):
    from vgen_plugins.shapes_edit.pipeline import build

    pipe = _tiny()
    torch.nn.init.normal_(pipe.word_rows.weight)
    torch.nn.init.normal_(pipe.source_in.weight)
    torch.nn.init.normal_(pipe.transformer.dit.proj_out.weight, std=0.02)
    pipe.save(tmp_path / "m")
    # the folder is a plain shapes model (its own vocabulary) + editor.safetensors
    assert json.loads((tmp_path / "m" / "text_encoder" / "config.json").read_text())["vocab_size"] == \
        len(pipe.base_tokenizer)
    back = build(weights=tmp_path / "m")
    assert torch.allclose(back.word_rows.weight, pipe.word_rows.weight, atol=1e-6)
    text = {**pipe.encode_prompt(["turn the red circle into a square"]), "source": torch.randn(1, 4, 5, 8, 8)}
    x, t = torch.randn(1, 4, 5, 8, 8), torch.tensor([900.0])
    with torch.no_grad():
        assert torch.allclose(pipe.denoise(x, t, text), back.denoise(x, t, text), atol=1e-5)


def test_trained_adapters_of_the_word_rows_merge_at_load(tmp_path):
    """What `vgen train` writes (peft adapters -> diffusers keys) puts the rows back through apply_lora."""
    from vgen_plugins.shapes_edit.pipeline import from_base

    from vgen.nn.lora import add_lora, file_prefixes, lora_from_state_dict, save_lora
    from vgen.settings import read_recipe

    targets = read_recipe("shapes-edit")[1]["train"]["lora_targets"]
    assert "words" in targets and "source_in" in targets
    pipe = _tiny()
    add_lora(pipe.transformer, 16, 16, targets)
    with torch.no_grad():
        for name, p in pipe.transformer.named_parameters():
            if "words.lora_B" in name:
                torch.nn.init.normal_(p)
    layer = pipe.word_rows  # the peft-wrapped Linear: base (zero) + B @ A
    merged = layer.lora_B["default"].weight @ layer.lora_A["default"].weight
    tensors = lora_from_state_dict(pipe.transformer.state_dict(), 1.0, file_prefixes(pipe.transformer))
    path = save_lora(tmp_path / "e.safetensors", tensors)
    loaded = from_base(_tiny(), path)
    assert merged.abs().sum() > 0 and torch.allclose(loaded.word_rows.weight, merged, atol=1e-5)


def test_batched_sampling_is_the_editors():
    from vgen_plugins.shapes_edit.editor import InstructEditor, sample_edits

    from vgen.contract import EditRequest
    from vgen.flow.loop import resolve_options

    pipe = _tiny()
    torch.nn.init.normal_(pipe.transformer.dit.proj_out.weight, std=0.02)
    torch.nn.init.normal_(pipe.source_in.weight, std=0.1)
    sources, texts = torch.randn(2, 4, 5, 8, 8), ["remove the red circle", "make the blue square small"]
    noise = torch.randn(sources.shape[1:], generator=torch.Generator().manual_seed(3))
    opts = resolve_options(pipe, steps=2, guidance=2.0)
    with torch.no_grad():
        batch, calls, start = sample_edits(pipe, sources, texts, noise.expand_as(sources), 1.0, opts)
        for j in range(2):
            one, info = InstructEditor().edit(pipe, sources[j:j + 1], EditRequest(instruction=texts[j], steps=2,
                                                                                  guidance=2.0, strength=1.0),
                                              torch.Generator().manual_seed(3))
            assert torch.allclose(one[0], batch[j], atol=1e-4)
    assert start == 1.0 and calls == info["model_calls"]


def test_quick_eval_scores_held_out_pairs(tmp_path, capsys):
    from vgen_plugins.shapes.edit_pairs import KINDS
    from vgen_plugins.shapes_edit.quick_eval import held_out, main

    pairs = held_out(1000, 40, 1)
    assert sorted(p.kind for p in pairs) == sorted(KINDS)
    out = tmp_path / "eval.json"
    assert main(["--config", "tiny", "--num", "7", "--steps", "1", "--strength", "1.0", "--guidance", "1,2",
                 "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["sweep"]
    assert [(r["cases"], r["guidance"]) for r in rows] == [(7, 1.0), (7, 2.0)]
    assert all(0 <= r["success"] <= 100 and set(r["by_kind"]) <= set(KINDS) for r in rows)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["--num", "x"])
    assert main(["--config", "tiny", "--strength", "high"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("quick_eval:")


def test_editor_file_carries_its_sampling_defaults(tmp_path, capsys):
    """quick_eval --write-defaults stores the best setting of its sweep in the editor file; the editor samples with
    it when the request leaves strength and guidance unset, and an explicit value still wins."""
    from vgen_plugins.shapes_edit.editor import InstructEditor
    from vgen_plugins.shapes_edit.pipeline import from_base, read_sampling_defaults
    from vgen_plugins.shapes_edit.quick_eval import main

    from vgen.contract import EditRequest

    pipe = _tiny()
    path = tmp_path / "editor.safetensors"
    pipe.save(tmp_path / "m")
    (tmp_path / "m" / "editor.safetensors").rename(path)
    assert read_sampling_defaults(path) == {}
    assert main(["--config", "tiny", "--weights", str(path), "--num", "3", "--steps", "1", "--strength", "1.0",
                 "--guidance", "2.5", "--write-defaults", "--test-seed", "1000", "--json", str(tmp_path / "e.json")]) == 0
    assert read_sampling_defaults(path) == {"strength": 1.0, "guidance": 2.5}
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["picked"] == {"strength": 1.0, "guidance": 2.5} and report["test"]["seed"] == 1000
    edited = from_base(_tiny(), path)
    source = torch.randn(1, 4, 5, 8, 8)
    _, info = InstructEditor().edit(edited, source, EditRequest(instruction="remove the red circle", steps=1),
                                    torch.Generator().manual_seed(0))
    assert (info["strength"], info["guidance"]) == (1.0, 2.5)
    _, info = InstructEditor().edit(edited, source, EditRequest(instruction="remove the red circle", steps=1,
                                                                strength=0.5, guidance=1.0),
                                    torch.Generator().manual_seed(0))
    assert (info["strength"], info["guidance"]) == (0.5, 1.0)
    capsys.readouterr()
    assert main(["--config", "tiny", "--write-defaults"]) == 2  # nothing to write them into
    assert capsys.readouterr().err.startswith("quick_eval:")


def test_scoring_in_worker_processes_gives_the_same_rows():
    from vgen_plugins.shapes_edit.quick_eval import _pool, held_out, score_pairs

    pipe, pairs = _tiny(), held_out(1000, 3, None)
    serial = score_pairs(pipe, pairs, 1.0, 2.0, 1)
    with _pool(2) as pool:
        assert score_pairs(pipe, pairs, 1.0, 2.0, 1, pool=pool) == serial
    assert [r["instruction"] for r in serial] == [p.instruction for p in pairs]


def test_a_base_wrapped_twice_still_reads_the_instruction_words():
    from vgen_plugins.shapes_edit.pipeline import from_base
    from vgen_plugins.shapes_model.pipeline import build as build_base

    torch.manual_seed(0)
    base = build_base(config="tiny")
    first, second = from_base(base), from_base(base)
    text = "remove the red circle"
    assert first.tokenizer(text)["input_ids"] == second.tokenizer(text)["input_ids"]
    assert second.tokenizer.unk_token_id not in second.tokenizer(text)["input_ids"]
