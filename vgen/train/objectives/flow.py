"""Flow matching for a pipeline's denoiser (target "dit"), fully or through LoRA adapters."""

from __future__ import annotations

from pathlib import Path

import torch

from vgen.pipeline import cat_text
from vgen.train.batches import to_device
from vgen.train.data import generator
from vgen.train.objectives import Objective
from vgen.train.objectives.losses import flow_matching_inputs, flow_noise, per_sample_mse


class Denoiser(torch.nn.Module):
    """The trainable DiT as one module whose forward is ``pipe.denoise`` (what DDP/FSDP wrap)."""

    def __init__(self, pipe):
        super().__init__()
        self.transformer = pipe.transformer
        object.__setattr__(self, "pipe", pipe)  # not a submodule: its other parts are frozen and not wrapped

    def forward(self, latents, timestep, text, guidance=None):
        return self.pipe.denoise(latents, timestep, text, guidance)


class FlowMatching(Objective):
    """x_t = t * noise + (1 - t) * x0 with t logit-normal (shifted); the denoiser predicts v = noise - x0 (MSE)."""

    def __init__(self, s, pipe, clips: dict, cache, device: torch.device, autocast):
        self.s, self.pipe, self.clips, self.cache, self.device, self.autocast = s, pipe, clips, cache, device, autocast
        self.trained = pipe.trainable("dit")
        self.adapters = bool(s.lora_rank)
        if self.adapters:
            from vgen.nn.lora import add_lora

            add_lora(self.trained, s.lora_rank, s.lora_alpha, s.lora_targets)
        self.module = Denoiser(pipe)

    def fill(self, batch: dict, loaded: list, x: torch.Tensor, rows: range) -> None:
        """Latents and text (from the cache, or encoded here), and the flow-matching noise: drawn here, it is off
        the step's critical path."""
        with torch.no_grad():
            if self.cache is not None:
                batch["latents"] = x
                texts = [self.cache.text(entry if cap is not None else None)
                         for (_, (entry, _)), cap in zip(loaded, batch["captions"], strict=True)]
                batch["text"] = {k: to_device(v, self.device) for k, v in cat_text(texts).items()}
            else:
                batch["latents"] = self.pipe.encode_video(x)
                prompts = [self.clips[c].caption if c is not None else "" for c in batch["captions"]]
                batch["text"] = self.pipe.encode_prompt(prompts, device=self.device)
        stage_i, pos = batch["keys"][0][:2]
        s = self.s
        drawn = flow_noise(generator("noise", s.seed, stage_i, pos), batch["global_batch"],
                           batch["latents"].shape[1:], s.logit_mean, s.logit_std, s.shift)
        batch["drawn"] = tuple(to_device(t[rows.start:rows.stop].contiguous(), self.device) for t in drawn)

    def loss(self, model: torch.nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        x_t, timestep, target = flow_matching_inputs(batch["latents"], *batch["drawn"], self.s.sigma_min)
        guidance = None
        if self.s.guidance is not None:
            guidance = torch.full((x_t.shape[0],), float(self.s.guidance), device=self.device)
        with self.autocast:
            pred = model(x_t, timestep, batch["text"], guidance)
        return per_sample_mse(pred, target), {}

    def holder(self, pipe) -> torch.nn.Module:
        return Denoiser(pipe)

    def save_adapters(self, state: dict[str, torch.Tensor], out) -> dict:
        """out/lora.safetensors in diffusers' key format, alpha / rank folded in."""
        from vgen.nn.lora import file_prefixes, lora_from_state_dict, save_lora

        s = self.s
        scaling = (s.lora_alpha or s.lora_rank) / s.lora_rank
        tensors = lora_from_state_dict(state, scaling, file_prefixes(self.pipe.transformer))
        path = save_lora(Path(out) / "lora.safetensors", tensors,
                         {"vgen_pipeline": s.pipeline, "rank": s.lora_rank})
        return {"lora": str(path)}
