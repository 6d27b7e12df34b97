"""Pipeline ``shapes-edit``: the default model whose DiT also sees the source video (MovieGen Edit's extra input
channels).

The DiT's patch embedding takes [noisy latents; source latents]: the noisy half through its own convolution, the
source half through ``source_in``, a new Linear over each patch that starts at zero, so that before training the
editor is exactly the text-to-video model (with the instruction as its prompt). The source latents travel with the
text conditioning (``text["source"]``): what the DiT takes besides the latents, which is also what a latent cache
stores per clip, so ``vgen train`` fine-tunes it as any DiT (target "dit", LoRA) with no new training code.

The instruction's own words (make, the, turn, remove, add ...: ``INSTRUCTION_WORDS``) are not in the default model's
vocabulary, where they were all one ``<unk>``; the editor's tokenizer appends them (the base ids unchanged) and the
text encoder's token embedding gains a row each: the ``<unk>`` row plus ``words`` (a zero Linear over a one-hot of the
new word), so untrained it reads them as ``<unk>`` as before, and training moves each on its own.

Weights: the default model's folder (or another shapes folder) + ``editor.safetensors``, a LoRA file (diffusers key
format) over the DiT, ``source_in`` and ``words`` (a LoRA of a zero Linear of rank >= its input is a full Linear).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from vgen_plugins.shapes_model.pipeline import WEIGHTS_DIR as BASE_WEIGHTS
from vgen_plugins.shapes_model.pipeline import ShapesPipeline

from vgen.errors import UserError

EDITOR_WEIGHTS = Path(__file__).parent / "weights" / "editor.safetensors"
EDITOR_FILE = "editor.safetensors"
DEFAULTS = {"guidance": 3.0, "steps": 10}  # CFG on the instruction (trained with 10% dropped); CPU checks chose both
# the words of the instruction forms (plugins/shapes/edit_pairs.py FORMS) that the default model's vocabulary lacks
INSTRUCTION_WORDS = ("the", "make", "turn", "into", "change", "to", "move", "bounce", "stand", "remove", "add")


class SourceEmbed(nn.Module):
    """Patch embedding of [noisy; source] latents: the DiT's own ``proj`` on the first half, ``source_in`` (zero at
    start) on the patches of the second half, summed per token."""

    def __init__(self, proj: nn.Conv3d):
        super().__init__()
        self.proj = proj
        kt, kh, kw = proj.kernel_size
        self.source_in = nn.Linear(proj.in_channels * kt * kh * kw, proj.out_channels, bias=False,
                                   device=proj.weight.device, dtype=proj.weight.dtype)
        nn.init.zeros_(self.source_in.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.proj.in_channels
        tokens = self.proj(x[:, :c]).flatten(2).transpose(1, 2)
        src = x[:, c:]
        b, _, t, h, w = src.shape
        kt, kh, kw = self.proj.kernel_size
        patches = src.reshape(b, c, t // kt, kt, h // kh, kh, w // kw, kw).permute(0, 2, 4, 6, 1, 3, 5, 7)
        return tokens + self.source_in(patches.reshape(b, tokens.shape[1], -1).to(tokens.dtype))


class WordEmbedding(nn.Embedding):
    """The text encoder's token embedding (same ``weight``) + rows for ids past it: the ``<unk>`` row plus
    ``words``' column for that word (``words`` starts at zero: the new words read as ``<unk>`` until trained)."""

    def __init__(self, base: nn.Embedding, unk_id: int, count: int):
        super().__init__(base.num_embeddings, base.embedding_dim, device=base.weight.device, dtype=base.weight.dtype)
        self.weight = base.weight
        self.unk_id = unk_id
        self.words = nn.Linear(count, base.embedding_dim, bias=False, device=base.weight.device,
                               dtype=base.weight.dtype)
        nn.init.zeros_(self.words.weight)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        n, count = self.num_embeddings, self.words.in_features
        new = input_ids >= n
        out = nn.functional.embedding(torch.where(new, self.unk_id, input_ids), self.weight)
        hot = nn.functional.one_hot((input_ids - n).clamp(0, count - 1), count) * new[..., None]
        return out + self.words(hot.to(self.words.weight.dtype)).to(out.dtype)

    def plain(self) -> nn.Embedding:
        base = nn.Embedding(self.num_embeddings, self.embedding_dim, device=self.weight.device, dtype=self.weight.dtype)
        base.weight = self.weight
        return base


def instruction_tokenizer(base):
    """The base tokenizer with ``INSTRUCTION_WORDS`` appended (every base id kept)."""
    from vgen_plugins.shapes_model.tokenizer import WordTokenizer

    vocab = base.backend.get_vocab(with_added_tokens=True)
    if sorted(vocab.values()) != list(range(len(vocab))) or any(w in vocab for w in INSTRUCTION_WORDS):
        raise UserError("pipeline shapes-edit needs the default model's word-level vocabulary without the "
                        f"instruction words ({', '.join(INSTRUCTION_WORDS)})")
    return WordTokenizer.from_words(sorted(vocab, key=vocab.get) + list(INSTRUCTION_WORDS), base.model_max_length)


class ShapesEditPipeline(ShapesPipeline):
    """``denoise`` needs ``text["source"]``: the source video's latents (B, C, t, h, w)."""

    name = "shapes-edit"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        dit = self.transformer.dit
        if not isinstance(dit.x_embedder, SourceEmbed):
            dit.x_embedder = SourceEmbed(dit.x_embedder.proj)
        self.base_tokenizer = self.tokenizer  # the shapes model's (what save writes)
        self.tokenizer = instruction_tokenizer(self.tokenizer)
        embeddings = self.transformer.text_encoder.embeddings
        if not isinstance(embeddings.token_embedding, WordEmbedding):  # (a transformer may be wrapped twice)
            embeddings.token_embedding = WordEmbedding(embeddings.token_embedding, self.tokenizer.unk_token_id,
                                                       len(INSTRUCTION_WORDS))
        self.defaults.update(DEFAULTS)

    def denoise(self, latents, timestep, text, guidance=None):
        source = text.get("source")
        if source is None:
            raise UserError("pipeline shapes-edit needs the source video's latents (text['source']): use vgen edit")
        return super().denoise(torch.cat([latents, source.to(latents)], dim=1), timestep, text, guidance)

    @property
    def source_in(self) -> nn.Linear:
        return self.transformer.dit.x_embedder.source_in

    @property
    def word_rows(self) -> nn.Linear:
        """The new words' embedding offsets (hidden, words): column j is word ``INSTRUCTION_WORDS[j]``."""
        return self.transformer.text_encoder.embeddings.token_embedding.words

    def save(self, folder: str | Path, max_shard_size: int | str = "14MB", dtype: torch.dtype | None = None) -> Path:
        """The base model's folder (the DiT's own patch embedding, the base vocabulary) + ``editor.safetensors``
        holding ``source_in`` and the word rows as a LoRA file (A = identity), which ``build(weights=folder)``
        loads back."""
        from vgen.nn.lora import save_lora

        dit, embeddings = self.transformer.dit, self.transformer.text_encoder.embeddings
        embed, words, tokenizer = dit.x_embedder, embeddings.token_embedding, self.tokenizer
        dit.x_embedder, embeddings.token_embedding = _PlainEmbed(embed.proj), words.plain()
        self.tokenizer = self.base_tokenizer
        try:
            folder = super().save(folder, max_shard_size, dtype)
        finally:
            dit.x_embedder, embeddings.token_embedding, self.tokenizer = embed, words, tokenizer
        tensors = {}
        for name, layer in (("transformer.x_embedder.source_in", self.source_in),
                            ("text_encoder.embeddings.token_embedding.words", self.word_rows)):
            w = layer.weight.detach().float().cpu()
            tensors |= {f"{name}.lora_A.weight": torch.eye(w.shape[1]), f"{name}.lora_B.weight": w.contiguous()}
        save_lora(Path(folder) / EDITOR_FILE, tensors, {"vgen_pipeline": self.name})
        return Path(folder)


class _PlainEmbed(nn.Module):
    """The DiT's own patch embedding alone (what a shapes folder stores)."""

    def __init__(self, proj: nn.Conv3d):
        super().__init__()
        self.proj = proj


def from_base(base: ShapesPipeline, editor: Path | None = None) -> ShapesEditPipeline:
    """The editor pipeline over a loaded shapes model; ``editor``: a LoRA file merged into it, whose metadata may
    hold the sampling settings it was measured best with (``write_sampling_defaults``)."""
    from vgen.nn.lora import apply_lora

    tokenizer = getattr(base, "base_tokenizer", base.tokenizer)  # base may be an editor pipeline itself
    pipe = ShapesEditPipeline(base.transformer, base.vae, tokenizer, base.weight_files())
    if editor is not None:
        apply_lora(pipe, editor)
        pipe._files.append(Path(editor))
        pipe.defaults.update(read_sampling_defaults(editor))
    return pipe


SAMPLING_KEYS = {"vgen_strength": "strength", "vgen_guidance": "guidance"}  # editor metadata -> pipe.defaults


def read_sampling_defaults(editor: str | Path) -> dict[str, float]:
    from safetensors import safe_open

    with safe_open(str(editor), "pt") as f:
        meta = f.metadata() or {}
    return {name: float(meta[key]) for key, name in SAMPLING_KEYS.items() if key in meta}


def write_sampling_defaults(editor: str | Path, strength: float, guidance: float) -> Path:
    """Rewrite the editor file (atomically) with ``strength`` and ``guidance`` in its metadata."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from vgen.nn.lora import save_lora

    with safe_open(str(editor), "pt") as f:
        meta = dict(f.metadata() or {})
    meta.pop("format", None)
    meta.update(vgen_strength=f"{strength:g}", vgen_guidance=f"{guidance:g}")
    return save_lora(editor, load_file(str(editor)), meta)


def build(weights=None, config=None, device="cpu", dtype=torch.float32, **options) -> ShapesEditPipeline:
    """``config`` "tiny" (or a shapes config dict): random weights, ``source_in`` at zero. ``config`` "untrained":
    the default model with ``source_in`` at zero (where fine-tuning starts). Otherwise ``weights``: a shapes model
    folder (+ its editor.safetensors if it has one) or an editor file over the default model; none: the default
    model + the shipped editor."""
    from vgen_plugins.shapes_model.pipeline import build as build_base

    if config not in (None, "untrained"):
        return from_base(build_base(config=config, device=device, dtype=dtype, **options))
    weights = Path(weights) if weights is not None else None
    base_folder, editor = BASE_WEIGHTS, EDITOR_WEIGHTS
    if weights is not None and weights.is_dir():
        base_folder, editor = weights, weights / EDITOR_FILE
    elif weights is not None:
        editor = weights
    base = build_base(weights=base_folder, device=device, dtype=dtype)
    if config == "untrained":
        return from_base(base)
    if not editor.is_file():
        if weights is None:
            raise UserError(f"the instruction editor's weights are not in this build ({editor}); train them with "
                            "scripts/train_editor.sh, or edit with --source-prompt/--target-prompt --method flowedit")
        return from_base(base)  # a shapes folder without an editor file: the untrained editor
    return from_base(base, editor)
