"""MovieGen's three text encoders on transformers' classes (arXiv 2410.13720, section 3.1.4).

- UL2 (``T5EncoderModel``): the prompt's semantics; per-token states of the last layer.
- ByT5 (``T5EncoderModel`` over bytes, ``ByT5Tokenizer``): only the text inside quotes in the prompt (the words to
  draw on screen, e.g. ``a sign that reads "OPEN"``); an all-masked row when the prompt quotes nothing.
- Long-prompt MetaCLIP (``CLIPTextModel`` with 256 positions): per-token states of the last layer.

Each returns (states, mask); the DiT projects each with its own Linear + LayerNorm and concatenates them along the
sequence (transformer.py). The prompt given to UL2 and MetaCLIP starts with the FPS token, e.g. "FPS-16 a cat ...",
as MovieGen conditions on the frame rate. Folders load with transformers' ``from_pretrained`` (a T5 folder may be
a whole encoder-decoder checkpoint: its decoder is skipped). ``tiny_encoders`` builds random tiny ones with
tokenizers trained in memory (tests; nothing comes from a hub).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from vgen.errors import UserError

ENCODERS = {  # name -> (model folder, tokenizer folder, transformers class, max tokens)
    "ul2": ("text_encoder", "tokenizer", "T5EncoderModel", 256),
    "byt5": ("text_encoder_2", "tokenizer_2", "T5EncoderModel", 256),
    "metaclip": ("text_encoder_3", "tokenizer_3", "CLIPTextModel", 256),
}
_QUOTED = re.compile(r'"([^"]+)"|\u201c([^\u201d]+)\u201d')


def with_fps(prompt: str, fps: int | None) -> str:
    """MovieGen's FPS conditioning: "FPS-16 <prompt>"."""
    return f"FPS-{fps} {prompt}" if fps else prompt


def quoted(prompt: str) -> str:
    """The text inside quotes ("..." or curly quotes), joined by spaces; "" when there is none."""
    return " ".join(a or b for a, b in _QUOTED.findall(prompt))


class TextEncoder:
    """One encoder and its tokenizer: prompts -> (last-layer states (B, L, D), mask (B, L))."""

    def __init__(self, name: str, model, tokenizer, max_length: int | None = None):
        self.name, self.model, self.tokenizer = name, model, tokenizer
        self.max_length = max_length or ENCODERS[name][3]

    @torch.no_grad()
    def __call__(self, texts: list[str], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        device = device or self.model.device
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        states = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.name == "byt5":  # prompts without quoted text: nothing for the DiT to read
            mask = mask * torch.tensor([bool(t) for t in texts], device=device, dtype=mask.dtype)[:, None]
        return states, mask

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])


def encode(encoders: dict[str, TextEncoder], prompts: list[str], fps: int | None, device=None) -> dict:
    """{"ul2": states, "ul2_mask": mask, "byt5": ..., "metaclip": ...} for the encoders there are."""
    out = {}
    for name, encoder in encoders.items():
        texts = [quoted(p) for p in prompts] if name == "byt5" else [with_fps(p, fps) for p in prompts]
        out[name], out[f"{name}_mask"] = encoder(texts, device)
    return out


def _quiet() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()  # transformers' loading / shard bars: noise in vgen's output


def load_encoder(name: str, folder: Path, device="cpu", dtype: torch.dtype | None = None) -> TextEncoder:
    """An encoder and its tokenizer from a pipeline folder (one-line UserErrors for a missing or bad folder)."""
    import transformers

    _quiet()
    model_dir, tok_dir, class_name, _ = ENCODERS[name]
    for sub in (model_dir, tok_dir):
        if not (folder / sub).is_dir():
            raise UserError(f"missing folder: {folder / sub} (the {name} text encoder)")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder / tok_dir), local_files_only=True)
        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = getattr(transformers, class_name).from_pretrained(str(folder / model_dir), local_files_only=True,
                                                                  **kwargs)
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{folder}: cannot load the {name} text encoder: {str(exc).splitlines()[0]}") from None
    return TextEncoder(name, model.to(device).eval().requires_grad_(False), tokenizer)


def save_encoder(encoder: TextEncoder, folder: Path, max_shard_size="5GB") -> None:
    _quiet()
    model_dir, tok_dir, _, _ = ENCODERS[encoder.name]
    encoder.model.save_pretrained(folder / model_dir, max_shard_size=max_shard_size)
    encoder.tokenizer.save_pretrained(folder / tok_dir)


# ---------------------------------------------------------------------------------------------------------------------
# Tiny random encoders (tests, the tiny config): tokenizers trained in memory, models from their config classes

_CORPUS = [
    "FPS-16 a cat walks on the grass, realistic. a dog runs along the beach at sunset, cinematic lighting.",
    "FPS-24 a red car drives through a busy city street at night; neon signs, rain, reflections on the road.",
    "FPS-8 a sign that reads \"OPEN\" hangs on a wooden door; close-up, soft light, the camera zooms in.",
    "shapes: a small red square, a big green circle and a blue triangle move left, right, up and down.",
]


def word_tokenizer(words: list[str] | None = None, kind: str = "t5", max_length: int = 256):
    """A fast tokenizer over ``words`` (whole words; a word-piece BPE of a small corpus when None), with T5's
    specials (<pad>=0, </s>=1, <unk>=2, </s> appended) or CLIP's (<|startoftext|> ... <|endoftext|>, padded with it)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"] if kind == "t5" else ["<|startoftext|>", "<|endoftext|>"]
    unk = specials[2] if kind == "t5" else specials[1]
    if words is None:
        tok = Tokenizer(models.BPE(unk_token=unk))
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
        tok.normalizer = normalizers.Lowercase()
        trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials, show_progress=False)
        tok.train_from_iterator(_CORPUS, trainer=trainer)
    else:
        vocab = {w: i for i, w in enumerate(dict.fromkeys([*specials, *words]))}
        tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
        tok.normalizer = normalizers.Lowercase()
    ids = {t: tok.token_to_id(t) for t in specials}
    if kind == "t5":
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                           special_tokens=[("</s>", ids["</s>"])])
        return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                       model_max_length=max_length)
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", pair="<|startoftext|> $A <|endoftext|> $B <|endoftext|>",
        special_tokens=list(ids.items()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>", unk_token="<|endoftext|>", model_max_length=max_length)


def tiny_encoders(specs: dict[str, dict], words: list[str] | None = None,
                  dtype: torch.dtype = torch.float32) -> dict[str, TextEncoder]:
    """Random encoders from config overrides per name ({"ul2": {...}, "byt5": {...}, "metaclip": {...}}); ``words``
    gives UL2 and MetaCLIP a word-level vocabulary (the shapes world's), else a BPE of a small corpus."""
    from transformers import ByT5Tokenizer, CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    out = {}
    for name, spec in specs.items():
        if name == "metaclip":
            tok = word_tokenizer(words, "clip", spec.get("max_position_embeddings", 256))
            cfg = CLIPTextConfig(**{"vocab_size": len(tok), "bos_token_id": tok.bos_token_id,
                                    "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id,
                                    "max_position_embeddings": 256, **spec})
            model = CLIPTextModel(cfg)
        else:
            tok = ByT5Tokenizer() if name == "byt5" else word_tokenizer(words, "t5")
            cfg = T5Config(**{"vocab_size": len(tok), "pad_token_id": tok.pad_token_id,
                              "eos_token_id": tok.eos_token_id, "decoder_start_token_id": tok.pad_token_id,
                              "feed_forward_proj": "gated-gelu", "is_encoder_decoder": False, "use_cache": False,
                              **spec})
            model = T5EncoderModel(cfg)
        out[name] = TextEncoder(name, model.to(dtype).eval().requires_grad_(False), tok)
    return out
