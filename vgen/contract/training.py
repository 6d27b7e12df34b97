"""What ``register_training_targets`` registers: a training target vgen's trainer knows nothing about.

``vgen train run`` with ``target = "NAME"`` (a registered name; "dit" and "vae" are the pipelines' own) builds
``factory(settings: vgen.train.settings.TrainSettings, device: torch.device) -> TrainingTarget`` and runs the generic
loop of vgen.train.targets over it: AdamW with the recipe's LR schedule (warmup + cosine, ``lr_at``), gradient
clipping, bf16 autocast on CUDA, optional EMA, ``time_limit_s``, metrics.jsonl and the loss curve. The target brings
the model, its data and its loss, and writes what it trained (``save``), e.g. an audio autoencoder or audio DiT
(plugins/audio).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class TrainingTarget(Protocol):
    module: torch.nn.Module  # the optimizer trains its parameters that require grad

    def batches(self) -> Iterator[dict]:
        """Endless training batches (seeded by the recipe's ``seed``), already on the device."""
        ...

    def loss(self, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        """Per-sample losses (B,) of ``batch`` through ``module``, and numbers to log."""
        ...

    def save(self, out: Path) -> Path:
        """Write the trained model (with ``module``'s current weights) to the folder ``out``; return it."""
        ...
