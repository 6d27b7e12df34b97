"""The default model's word-level tokenizer, on the `tokenizers` library alone.

It reads and writes the folder that transformers' ``PreTrainedTokenizerFast`` does (tokenizer.json +
tokenizer_config.json; tests load each one's folder with the other and compare ids) and answers the calls the
pipeline makes, without importing transformers (1.3 s of start-up on 2 CPU cores).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

SPECIALS = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<bos>", "eos_token": "<eos>"}


class WordTokenizer:
    """``tokenizer(texts, padding="max_length", truncation=True, max_length=32, return_tensors="pt")`` ->
    ``{"input_ids", "attention_mask"}``, as transformers' tokenizers answer it."""

    def __init__(self, backend, specials: dict[str, str], model_max_length: int):
        self.backend = backend  # a tokenizers.Tokenizer
        self.specials = dict(specials)
        self.model_max_length = model_max_length
        for name, token in self.specials.items():
            if backend.token_to_id(token) is None:
                raise ValueError(f"{name} {token!r} is not in the vocabulary")

    @classmethod
    def from_words(cls, words: list[str], model_max_length: int) -> WordTokenizer:
        """Lower-cased, split on blanks and punctuation, one id a word (the specials first), <bos> ... <eos>."""
        from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers, processors
        from tokenizers.models import WordLevel

        vocab = {w: i for i, w in enumerate(words)}
        tok = Tokenizer(WordLevel(vocab, unk_token=SPECIALS["unk_token"]))
        tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        bos, eos = SPECIALS["bos_token"], SPECIALS["eos_token"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A {eos}", special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])])
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS.values()])
        return cls(tok, SPECIALS, model_max_length)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> WordTokenizer:
        from tokenizers import Tokenizer

        folder = Path(folder)
        config = json.loads((folder / "tokenizer_config.json").read_text())
        specials = {k: _content(config[k]) for k in SPECIALS if config.get(k)}
        return cls(Tokenizer.from_file(str(folder / "tokenizer.json")), specials,
                   int(config.get("model_max_length", 512)))

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.backend.save(str(folder / "tokenizer.json"))
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": self.model_max_length,
                  **self.specials}
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")

    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def _id(self, name: str) -> int | None:
        token = self.specials.get(name)
        return None if token is None else self.backend.token_to_id(token)

    pad_token_id = property(lambda self: self._id("pad_token"))
    unk_token_id = property(lambda self: self._id("unk_token"))
    bos_token_id = property(lambda self: self._id("bos_token"))
    eos_token_id = property(lambda self: self._id("eos_token"))

    def __call__(self, texts: str | list[str], padding: bool | str = False, truncation: bool = False,
                 max_length: int | None = None, return_tensors: str | None = None,
                 add_special_tokens: bool = True) -> dict:
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        limit = max_length or self.model_max_length
        if truncation:  # tokenizers keeps room for the template's <bos>/<eos> when it truncates
            self.backend.enable_truncation(limit)
        try:
            encs = self.backend.encode_batch(batch, add_special_tokens=add_special_tokens)
        finally:
            if truncation:
                self.backend.no_truncation()
        ids = [e.ids for e in encs]
        width = limit if padding == "max_length" else max(map(len, ids)) if padding else None
        if width is not None:
            pad = self.pad_token_id
            ids = [i + [pad] * (width - len(i)) for i in ids]
        mask = [[1] * len(e.ids) + [0] * (len(i) - len(e.ids)) for e, i in zip(encs, ids, strict=True)]
        if return_tensors == "pt":
            return {"input_ids": torch.tensor(ids, dtype=torch.long),
                    "attention_mask": torch.tensor(mask, dtype=torch.long)}
        if return_tensors is not None:
            raise ValueError(f"return_tensors={return_tensors!r}; known: 'pt' or None")
        return {"input_ids": ids[0] if single else ids, "attention_mask": mask[0] if single else mask}


def _content(token) -> str:  # tokenizer_config.json holds a special token as a string or an AddedToken dict
    return token["content"] if isinstance(token, dict) else token
