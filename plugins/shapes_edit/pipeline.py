"""Pipeline ``shapes-edit``: the default model whose DiT also sees the source video (MovieGen Edit's extra input
channels).

The DiT's patch embedding takes [noisy latents; source latents]: the noisy half through its own convolution, the
source half through ``source_in``, a new Linear over each patch that starts at zero, so that before training the
editor is exactly the text-to-video model (with the instruction as its prompt). The source latents travel with the
text conditioning (``text["source"]``): what the DiT takes besides the latents, which is also what a latent cache
stores per clip, so ``vgen train`` fine-tunes it as any DiT (target "dit", LoRA) with no new training code.

Weights: the default model's folder (or another shapes folder) + ``editor.safetensors``, a LoRA file (diffusers key
format) over the DiT and ``source_in`` (a LoRA of a zero Linear of rank >= its input is a full Linear).
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


class ShapesEditPipeline(ShapesPipeline):
    """``denoise`` needs ``text["source"]``: the source video's latents (B, C, t, h, w)."""

    name = "shapes-edit"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        dit = self.transformer.dit
        if not isinstance(dit.x_embedder, SourceEmbed):
            dit.x_embedder = SourceEmbed(dit.x_embedder.proj)
        self.defaults.update(DEFAULTS)

    def denoise(self, latents, timestep, text, guidance=None):
        source = text.get("source")
        if source is None:
            raise UserError("pipeline shapes-edit needs the source video's latents (text['source']): use vgen edit")
        return super().denoise(torch.cat([latents, source.to(latents)], dim=1), timestep, text, guidance)

    @property
    def source_in(self) -> nn.Linear:
        return self.transformer.dit.x_embedder.source_in

    def save(self, folder: str | Path, max_shard_size: int | str = "14MB", dtype: torch.dtype | None = None) -> Path:
        """The base model's folder (the DiT's own patch embedding) + ``editor.safetensors`` holding ``source_in``
        as a LoRA file (A = identity), which ``build(weights=folder)`` loads back."""
        from vgen.nn.lora import save_lora

        embed = self.transformer.dit.x_embedder
        self.transformer.dit.x_embedder = _PlainEmbed(embed.proj)
        try:
            folder = super().save(folder, max_shard_size, dtype)
        finally:
            self.transformer.dit.x_embedder = embed
        w = self.source_in.weight.detach().float().cpu()
        name = "transformer.dit.x_embedder.source_in"
        save_lora(Path(folder) / EDITOR_FILE, {f"{name}.lora_A.weight": torch.eye(w.shape[1]),
                                              f"{name}.lora_B.weight": w.contiguous()}, {"vgen_pipeline": self.name})
        return Path(folder)


class _PlainEmbed(nn.Module):
    """The DiT's own patch embedding alone (what a shapes folder stores)."""

    def __init__(self, proj: nn.Conv3d):
        super().__init__()
        self.proj = proj


def from_base(base: ShapesPipeline, editor: Path | None = None) -> ShapesEditPipeline:
    """The editor pipeline over a loaded shapes model; ``editor``: a LoRA file merged into it."""
    from vgen.nn.lora import apply_lora

    pipe = ShapesEditPipeline(base.transformer, base.vae, base.tokenizer, base.weight_files())
    if editor is not None:
        apply_lora(pipe, editor)
        pipe._files.append(Path(editor))
    return pipe


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
