"""HunyuanVideo's two text encoders, on transformers' own model classes.

- ``LlamaPromptEncoder``: the prompt goes into a fixed video-description template, through a Llama decoder
  (llava-llama-3-8b in the real model); the output is the hidden state of layer -3 (the last two layers skipped, no
  final norm) for the prompt tokens only (the template's tokens are cropped), padded to 256, with its attention mask.
- ``CLIPPooledEncoder``: CLIP ViT-L/14's text model, pooled output (the EOS token's state), 77 tokens.

Both load from local folders (a model folder with config.json + safetensors, a tokenizer folder); weights stream in
with ``vgen.io.checkpoint.load_into`` onto modules built without memory, so peak host memory stays near one copy.
``tiny_tokenizers()`` trains small BPE tokenizers in memory for tests and random tiny pipelines.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vgen.errors import UserError
from vgen.io.folders import empty_weights

# The template of HunyuanVideo (and diffusers' DEFAULT_PROMPT_TEMPLATE); the prompt replaces "{}".
PROMPT_TEMPLATE = (
    "<|start_header_id|>system<|end_header_id|>\n\nDescribe the video by detailing the following aspects: "
    "1. The main content and theme of the video."
    "2. The color, shape, size, texture, quantity, text, and spatial relationships of the objects."
    "3. Actions, events, behaviors temporal relationships, physical movement changes of the objects."
    "4. background environment, light, style and atmosphere."
    "5. camera angles, movements, and transitions used in the video:<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>"
)
LLM_MAX_TOKENS = 256
CLIP_MAX_TOKENS = 77


def load_tokenizer(folder: str | Path, class_name: str | None = None):
    """A transformers tokenizer from a local folder; a UserError naming the folder when there is none."""
    folder = Path(folder)
    files = ("tokenizer.json", "vocab.json", "tokenizer.model", "tokenizer_config.json")
    if not folder.is_dir() or not any((folder / f).is_file() for f in files):
        raise UserError(f"missing tokenizer: {folder} (needs tokenizer.json, or vocab.json + merges.txt)")
    import transformers

    cls = getattr(transformers, class_name, None) if class_name else None
    try:
        if cls is not None:
            return cls.from_pretrained(str(folder), local_files_only=True)
        return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"unreadable tokenizer in {folder}: {str(exc).splitlines()[0]}") from None


def _load_hf_model(model_cls, config_cls, folder: str | Path, device, dtype, key_map):
    """Build a transformers model from ``folder/config.json`` on meta and stream its safetensors into it."""
    from vgen.io.checkpoint import load_into

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise UserError(f"missing config: {folder / 'config.json'}")
    try:
        config = config_cls.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder / 'config.json'}: {str(exc).splitlines()[0]}") from None
    with empty_weights():
        model = model_cls(config)
    load_into(model, folder, dtype=dtype, key_map=key_map, device=device)
    return model.to(device=device).eval().requires_grad_(False)


def load_llama(folder: str | Path, device="cpu", dtype=None):
    """A transformers LlamaModel from a folder (a LlamaModel or LlamaForCausalLM checkpoint)."""
    from transformers import LlamaConfig, LlamaModel

    return _load_hf_model(LlamaModel, LlamaConfig, folder, device, dtype, _llama_key)


def load_clip_text(folder: str | Path, device="cpu", dtype=None):
    """A transformers CLIPTextModel from a folder (a CLIPTextModel or full CLIPModel checkpoint)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    return _load_hf_model(CLIPTextModel, CLIPTextConfig, folder, device, dtype, _clip_key)


def _llama_key(key: str) -> str | None:
    """Checkpoint key -> LlamaModel key: a LlamaForCausalLM checkpoint has ``model.`` and an unused ``lm_head``."""
    if key.startswith("lm_head."):
        return None
    return key.removeprefix("model.")


def _clip_key(key: str) -> str | None:
    """Checkpoint key -> CLIPTextModel key: older files prefix ``text_model.``; a full CLIPModel has more."""
    if key.startswith(("vision_model.", "visual_projection.", "text_projection.", "logit_scale")):
        return None
    key = key.removeprefix("text_model.")
    return None if key.endswith("position_ids") else key


class LlamaPromptEncoder:
    """Prompt -> (hidden states of layer -3 for the prompt tokens, attention mask), as HunyuanVideo conditions."""

    def __init__(self, model, tokenizer, template: str = PROMPT_TEMPLATE, crop_start: int | None = None,
                 max_length: int = LLM_MAX_TOKENS, skip_layers: int = 2):
        self.model = model  # a transformers LlamaModel
        self.tokenizer = tokenizer
        self.template = template
        self.max_length = max_length
        self.skip_layers = skip_layers
        # The template's own tokens are cropped from the output: all of it but the "{}" and the final <|eot_id|>
        # (95 tokens with the real Llama-3 tokenizer), counted the way diffusers counts them.
        self.crop_start = crop_start if crop_start is not None else len(tokenizer(template)["input_ids"]) - 2

    @classmethod
    def from_folders(cls, model_dir, tokenizer_dir, device="cpu", dtype=None, tokenizer_class=None, **kwargs):
        tokenizer = load_tokenizer(tokenizer_dir, tokenizer_class)
        return cls(load_llama(model_dir, device, dtype), tokenizer, **kwargs)

    @torch.no_grad()
    def __call__(self, prompts: list[str], device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
        device = device or self.model.device
        texts = [self.template.format(p) for p in prompts]
        tokens = self.tokenizer(texts, max_length=self.max_length + self.crop_start, padding="max_length",
                                truncation=True, return_tensors="pt", return_attention_mask=True)
        ids = tokens["input_ids"].to(device)
        mask = tokens["attention_mask"].to(device)
        out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden = out.hidden_states[-(self.skip_layers + 1)].to(dtype or self.model.dtype)
        return hidden[:, self.crop_start:], mask[:, self.crop_start:]


class CLIPPooledEncoder:
    """Prompt -> CLIP text model's pooled output (the state of the EOS token), 77 tokens."""

    def __init__(self, model, tokenizer, max_length: int = CLIP_MAX_TOKENS):
        self.model = model  # a transformers CLIPTextModel
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def from_folders(cls, model_dir, tokenizer_dir, device="cpu", dtype=None, tokenizer_class=None, **kwargs):
        tokenizer = load_tokenizer(tokenizer_dir, tokenizer_class)
        return cls(load_clip_text(model_dir, device, dtype), tokenizer, **kwargs)

    @torch.no_grad()
    def __call__(self, prompts: list[str], device=None, dtype=None) -> torch.Tensor:
        device = device or self.model.device
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.max_length, truncation=True,
                             return_tensors="pt")["input_ids"].to(device)
        return self.model(ids, output_hidden_states=False).pooler_output.to(dtype or self.model.dtype)


# ---------------------------------------------------------------------------------------------------------------------
# Tiny tokenizers trained in memory (tests, random tiny pipelines): same special tokens and padding as the real ones.

_CORPUS = [
    PROMPT_TEMPLATE.replace("{}", ""),
    "a cat walks on the grass, realistic. a dog runs along the beach at sunset, cinematic lighting.",
    "a red car drives through a busy city street at night; neon signs, rain, reflections on the road.",
    "close-up of a woman smiling, soft light, shallow depth of field; the camera slowly zooms in.",
    "aerial shot of mountains and a river, drone footage, 4k. a small boat sails across a calm blue lake.",
    "shapes: a red square, a green circle and a blue triangle move left, right, up and down.",
]


def _train_bpe(special: list[str], vocab_size: int, lowercase: bool):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    return tok


def tiny_tokenizers():
    """(llama-like, clip-like) fast tokenizers trained on a few sentences: byte-level BPE, vocab under 512.

    The llama-like one prepends <|begin_of_text|> and pads right with <|end_of_text|> (like Llama-3); the clip-like
    one wraps in <|startoftext|> ... <|endoftext|> and pads with <|endoftext|> (like CLIP).
    """
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    llama_special = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    llama = _train_bpe(llama_special, 400, lowercase=False)
    bos = llama.token_to_id("<|begin_of_text|>")
    llama.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                                         special_tokens=[("<|begin_of_text|>", bos)])
    llama_tok = PreTrainedTokenizerFast(tokenizer_object=llama, bos_token="<|begin_of_text|>",
                                        eos_token="<|end_of_text|>", pad_token="<|end_of_text|>", padding_side="right")

    clip_special = ["<|startoftext|>", "<|endoftext|>"]
    clip = _train_bpe(clip_special, 300, lowercase=True)
    ids = {t: clip.token_to_id(t) for t in clip_special}
    clip.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", pair="<|startoftext|> $A <|endoftext|> $B <|endoftext|>",
        special_tokens=list(ids.items()))
    clip_tok = PreTrainedTokenizerFast(tokenizer_object=clip, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
                                       pad_token="<|endoftext|>", unk_token="<|endoftext|>", padding_side="right",
                                       model_max_length=CLIP_MAX_TOKENS)
    return llama_tok, clip_tok
