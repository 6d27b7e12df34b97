"""The contract between model families and the stages (sample, train, edit, export).

A pipeline plugin registers ``register("name", factory, description=...)`` in ``register_pipelines``; the factory is
``factory(weights=None, config=None, device="cpu", dtype=torch.float32, **options) -> VideoPipeline``:
``weights`` is a diffusers-layout folder to load, ``config`` a dict (or preset name) to build random weights from.

Stages only talk to the methods below, so they know nothing of a particular model. Shapes are batch-first;
videos are (B, C, T, H, W); pixel values are in [-1, 1] going into the VAE and [0, 1] coming out of ``decode``.

A pipeline also says what only it knows: which of its modules a training target trains (``trainable``), how its
denoiser splits over a process group (``sequence_parallel``) and where it cuts after its first block for step caching
(``denoiser_split``). ``PipelineBase`` gives the defaults: every module a pipeline holds, a DiT or a whole VAE
trained, no sequence parallelism and no step caching.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from vgen.errors import UserError

TextEmbeds = dict[str, torch.Tensor]  # what the DiT takes besides latents: hidden states, masks, pooled vectors


@runtime_checkable
class VideoPipeline(Protocol):
    name: str  # the registered family name
    latent_channels: int
    temporal_compression: int  # frames -> latent frames: (T - 1) // temporal_compression + 1
    spatial_compression: int  # pixels -> latent pixels
    size_multiple: int  # height and width must be multiples of this (VAE x patch)
    defaults: dict  # steps, shift, guidance, frames, height, width, fps, schedule, sampler
    transformer: torch.nn.Module  # the denoiser; what train optimises and export exports
    vae: torch.nn.Module

    def encode_prompt(self, prompts: list[str], device=None, dtype=None) -> TextEmbeds:
        """Text conditioning for a batch of prompts (the negative prompt is just another prompt)."""

    def denoise(self, latents: torch.Tensor, timestep: torch.Tensor, text: TextEmbeds,
                guidance: torch.Tensor | None = None) -> torch.Tensor:
        """The predicted flow velocity (noise - x0) at ``timestep`` = sigma * 1000, shape (B,)."""

    def encode_video(self, video: torch.Tensor, sample: bool = False,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """Scaled latents of a video in [-1, 1] (the mean, or a sample of the posterior)."""

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Frames in [0, 1] of scaled latents."""

    def to(self, device=None, dtype=None) -> VideoPipeline:
        ...

    def save(self, folder: str | Path) -> Path:
        """Write the pipeline in its (diffusers) folder layout."""

    def weight_files(self) -> list[Path]:
        """The files the weights came from (for provenance hashes); empty for random weights."""

    def modules(self) -> dict[str, torch.nn.Module]:
        """Every module of the pipeline by name (what training freezes before it unfreezes what it trains)."""

    def trainable(self, target: str, part: str = "all") -> torch.nn.Module:
        """Freeze every module, unfreeze what training target ``target`` ("dit" or "vae") trains and return that
        module; ``part`` "decoder" (target "vae") keeps what makes the latents frozen. UserError when unknown."""

    def sequence_parallel(self, group, checkpointing: bool = False) -> AbstractContextManager:
        """A context inside which ``denoise`` runs sequence-parallel over the ranks of ``group`` (forward and
        backward; every rank passes the same inputs and gets the full output). ``checkpointing``: the denoiser
        recomputes its blocks in backward, through the parallel hooks. UserError if the pipeline cannot split."""


@dataclass
class DenoiserSplit:
    """The DiT cut after its first block, for step caching (vgen.flow.stepcache). For the same arguments as
    ``module.forward``: ``probe, hidden, state = head(*args, **kwargs)`` runs the input layers and the first block,
    ``rest(hidden, state)`` the other blocks (same shape as ``hidden``), ``finish(hidden, state)`` the output layers;
    ``finish(rest(hidden, state), state)`` is ``module.forward``'s result, bit for bit. ``probe`` is what the first
    block changed (its output minus its input), which the cache compares from step to step."""

    module: torch.nn.Module
    head: Callable
    rest: Callable
    finish: Callable


TARGETS = ("dit", "vae")  # what `vgen train` trains: the denoiser or the autoencoder


class PipelineBase:
    """Defaults of the pipeline methods that stages other than sampling use; a pipeline class inherits them and
    overrides what its model does differently."""

    name: str = "pipeline"

    def __call__(self, prompt: str | list[str], **options):
        """``pipe("a prompt", num_inference_steps=20, seed=0)`` -> videos with ``.frames`` and ``.save("x.mp4")``:
        vgen.flow.loop.generate with the pipeline's defaults, under vgen's or diffusers' option names
        (vgen.flow.call)."""
        from vgen.flow.call import call

        return call(self, prompt, **options)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.nn.Module)}

    def trainable(self, target: str, part: str = "all") -> torch.nn.Module:
        if target not in TARGETS:
            raise UserError(f"unknown training target {target!r}; known: {', '.join(TARGETS)}")
        parts = ("all", "decoder") if target == "vae" else ("all",)
        if part not in parts:
            raise UserError(f"target {target!r} trains one of: {', '.join(parts)}; got {part!r}")
        for module in self.modules().values():
            module.requires_grad_(False)
        module = self.transformer if target == "dit" else self.vae
        module.requires_grad_(True)
        if part == "decoder":
            for frozen in self.latent_modules():
                frozen.requires_grad_(False)
        return module

    def latent_modules(self) -> list[torch.nn.Module]:
        """The parts of the VAE that make the latents: frozen when only the decoder trains, so that latents a DiT
        was trained on keep their meaning."""
        raise UserError(f"pipeline {self.name} cannot train its VAE's decoder alone")

    def sequence_parallel(self, group, checkpointing: bool = False) -> AbstractContextManager:
        raise UserError(f"pipeline {self.name} cannot split over a process group")

    def denoiser_split(self) -> DenoiserSplit:
        """The DiT ``denoise`` calls, cut after its first block (step caching: ``vgen sample --step-cache``)."""
        raise UserError(f"pipeline {self.name} cannot cache steps (it does not split its denoiser after the first "
                        "block): drop --step-cache")


def cat_text(parts: list[TextEmbeds]) -> TextEmbeds:
    """Concatenate text conditioning along the batch (CFG batches cond and uncond); pads sequence lengths."""
    out: TextEmbeds = {}
    for key in parts[0]:
        tensors = [p[key] for p in parts]
        if tensors[0].dim() >= 2 and len({t.shape[1] for t in tensors}) > 1:
            longest = max(t.shape[1] for t in tensors)
            tensors = [torch.nn.functional.pad(t, [0, 0] * (t.dim() - 2) + [0, longest - t.shape[1]])
                       for t in tensors]
        out[key] = torch.cat(tensors, dim=0)
    return out


def latent_shape(pipe: VideoPipeline, batch: int, frames: int, height: int, width: int) -> tuple[int, ...]:
    return (batch, pipe.latent_channels, (frames - 1) // pipe.temporal_compression + 1,
            height // pipe.spatial_compression, width // pipe.spatial_compression)


def build(name: str, weights=None, config: str | dict | None = None, device="cpu",
          dtype: torch.dtype = torch.float32) -> VideoPipeline:
    """The registered pipeline ``name``, built once by a stage. Random weights are drawn under seed 0 (the caller's
    RNG state is kept), so a rerun of a sidecar sees the same model."""
    from vgen import registry

    if weights is not None and not Path(weights).exists():
        raise UserError(f"weights folder not found: {weights} (a hub id org/name must be in the HF cache or "
                        "downloadable)")
    kwargs = {"weights": weights, "device": device, "dtype": dtype}
    if config is not None:
        kwargs["config"] = config
    backend = registry.get("pipeline", name)
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        return backend.factory(**kwargs)
    finally:
        torch.random.set_rng_state(state)
