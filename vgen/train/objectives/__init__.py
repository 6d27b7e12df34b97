"""What a training target optimises, behind one interface (``Objective``), and the losses they are built from.

- ``flow.FlowMatching`` (target "dit"): the pipeline's denoiser learns the flow velocity (full or LoRA).
- ``autoencoder.Reconstruction`` (target "vae"): the VAE reconstructs clips (L1 + KL, optional L2, edge, outlier and
  adversarial terms; the discriminator takes its own step after each optimizer step).

The trainer knows no target: it asks the pipeline nothing by name and the objective everything target-specific.
"""

from __future__ import annotations

import torch

from vgen.train.objectives.losses import (
    PatchDiscriminator3D,
    encode_decode,
    flow_matching_inputs,
    flow_noise,
    generator_adv_loss,
    gradient_l1,
    hinge_d_loss,
    kl_per_sample,
    outlier_penalty,
    per_sample_mse,
    psnr,
)

__all__ = ["Objective", "make", "PatchDiscriminator3D", "encode_decode", "flow_matching_inputs", "flow_noise",
           "generator_adv_loss", "gradient_l1", "hinge_d_loss", "kl_per_sample", "outlier_penalty",
           "per_sample_mse", "psnr"]


class Objective:
    """One training target. The trainer calls ``fill`` for each batch (on the prefetch thread), ``loss`` for each
    micro-batch (it runs the backward pass itself) and ``after_step`` after each optimizer step.

    ``module`` is what DDP/FSDP wrap (its forward is the target's); ``trained`` the pipeline module it trains
    (its blocks are checkpointed, it is compiled)."""

    module: torch.nn.Module
    trained: torch.nn.Module
    adapters = False  # True: the run's output is an adapter file (``save_adapters``), not a pipeline folder

    def fill(self, batch: dict, loaded: list, x: torch.Tensor, rows: range) -> None:
        """Add what ``loss`` needs to a batch: ``loaded`` are (clip id, (cache entry, data)) of this rank's rows
        ``rows`` of the global batch, ``x`` their data stacked on the training device."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        """Per-sample losses of a micro-batch through ``model`` (the wrapped ``module``), and numbers to log."""
        raise NotImplementedError

    def after_step(self, step: int) -> dict:
        """Updates of other state after the optimizer step (a discriminator's); numbers to log."""
        return {}

    def states(self) -> dict[str, dict]:
        """Checkpointed state besides the model, its optimizer and EMA."""
        return {}

    def prefill(self) -> None:
        """Create lazily made state (optimizer moments), so that a resume can load into it."""

    def load_states(self, states: dict[str, dict]) -> None:
        pass

    def evaluate(self, clips: list, buckets: list, bad) -> dict:
        """Metrics on held-out clips, each at its bucket of ``buckets``."""
        return {}

    def compiled(self) -> list[torch.nn.Module]:
        """The modules ``compile = true`` compiles in place (their forward is what the loss calls)."""
        return [self.trained]

    def holder(self, pipe) -> torch.nn.Module:
        """``module`` for another copy of the pipeline (full or EMA weights are loaded into it)."""
        raise NotImplementedError

    def finalize(self, pipe, heldout: list, buckets: list, bad, result: dict) -> None:
        """Last changes to the trained pipeline before it is saved."""

    def save_adapters(self, state: dict[str, torch.Tensor], out) -> dict:
        raise NotImplementedError


def make(s, pipe, clips: dict, heldout: list, cache, device: torch.device, autocast, d) -> Objective:
    """The objective of ``s.target``; it freezes the pipeline but for what it trains."""
    if s.target == "dit":
        from vgen.train.objectives.flow import FlowMatching

        return FlowMatching(s, pipe, clips, cache, device, autocast)
    from vgen.train.objectives.autoencoder import Reconstruction

    return Reconstruction(s, pipe, clips, heldout, cache, device, autocast, d)
