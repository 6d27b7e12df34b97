"""The ``hunyuan-video`` pipeline: text encoders + DiT + causal 3D VAE behind ``vgen.pipeline.VideoPipeline``.

- ``HunyuanVideoPipeline.load(folder)`` reads a diffusers-layout folder as it is (model_index.json, transformer/,
  vae/, text_encoder/, text_encoder_2/, tokenizer/, tokenizer_2/, optional scheduler/), any dtype, sharded or not.
  Modules are built with parameters on the meta device and tensors stream in one at a time straight to ``device``,
  so host memory stays near one copy of the weights (one tensor, when loading to a GPU).
- ``HunyuanVideoPipeline.from_config("tiny")`` builds random weights (tests, other stages' smoke runs);
  ``from_config("13b", device="meta")`` builds the full-size model without memory.
- ``save(folder)`` writes the same diffusers layout (diffusers' ``HunyuanVideoPipeline.from_pretrained`` reads it).

Denoising follows HunyuanVideo: the DiT sees ``timestep = sigma * 1000`` and, for the guidance-distilled model,
``guidance = scale * 1000`` (embedded guidance, default 6.0); latents are VAE latents times ``scaling_factor``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from vgen_plugins.hunyuan_video.text_encoders import (
    LLM_MAX_TOKENS,
    CLIPPooledEncoder,
    LlamaPromptEncoder,
    load_clip_text,
    load_llama,
    load_tokenizer,
    tiny_tokenizers,
)

from vgen.errors import UserError
from vgen.io.folders import DIFFUSERS_VERSION, config_json, load_module, make_config
from vgen.nn.latents import VAELatents
from vgen.pipeline import PipelineBase

# Sampling defaults of the released model (text-to-video, 720p). "guidance" is true CFG (off), "embedded_guidance"
# the distilled guidance the DiT takes; below 20 steps the shift rises to 17.
DEFAULTS = {"steps": 50, "shift": 7.0, "shift_few_steps": 17.0, "few_steps_below": 20, "guidance": 1.0,
            "embedded_guidance": 6.0, "frames": 129, "height": 720, "width": 1280, "fps": 24,
            "schedule": "shifted", "sampler": "flow-euler"}

# Component configs by preset; keys are diffusers' (transformer, vae) and transformers' (text encoders) config keys.
PRESETS = {
    "tiny": {  # seconds on a CPU: 2+2 DiT layers of width 16, a 4-channel VAE of width 8, 3-layer Llama, 2-layer CLIP
        "transformer": {"in_channels": 4, "out_channels": 4, "num_attention_heads": 2, "attention_head_dim": 8,
                        "num_layers": 2, "num_single_layers": 2, "num_refiner_layers": 2, "mlp_ratio": 2.0,
                        "patch_size": 2, "patch_size_t": 1, "qk_norm": "rms_norm", "guidance_embeds": True,
                        "text_embed_dim": 32, "pooled_projection_dim": 32, "rope_theta": 256.0,
                        "rope_axes_dim": [2, 2, 4]},
        "vae": {"latent_channels": 4, "block_out_channels": [8, 8, 8, 8], "layers_per_block": 1,
                "norm_num_groups": 4},
        "text_encoder": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
                         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512},
        "text_encoder_2": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                           "num_attention_heads": 4, "max_position_embeddings": 77, "projection_dim": 32},
    },
    "13b": {  # the released model: 12.82e9-parameter DiT, llava-llama-3-8b's language model, CLIP ViT-L/14 text
        "transformer": {},
        "vae": {},
        "text_encoder": {"vocab_size": 128320, "hidden_size": 4096, "intermediate_size": 14336,
                         "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                         "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": 500000.0},
        "text_encoder_2": {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072,
                           "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 77,
                           "projection_dim": 768, "hidden_act": "quick_gelu"},
    },
}
COMPONENTS = ("transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2")


def _dit_classes():
    from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel, HunyuanVideoTransformerConfig

    return HunyuanVideoTransformer3DModel, HunyuanVideoTransformerConfig


def _vae_classes():
    from vgen_plugins.hunyuan_video.vae import AutoencoderKLHunyuanVideo, HunyuanVideoVAEConfig

    return AutoencoderKLHunyuanVideo, HunyuanVideoVAEConfig


class HunyuanVideoPipeline(VAELatents, PipelineBase):
    """HunyuanVideo text-to-video: ``encode_prompt`` -> ``denoise`` (per step) -> ``decode``."""

    name = "hunyuan-video"
    temporal_compression = 4
    max_prompt_tokens = LLM_MAX_TOKENS  # longer prompts are cut by the LLM encoder (sample warns)

    def __init__(self, transformer, vae, llm: LlamaPromptEncoder, clip: CLIPPooledEncoder,
                 scheduler_config: dict | None = None, files: list[Path] | None = None):
        self.transformer = transformer
        self.vae = vae
        self.llm = llm
        self.clip = clip
        self.scheduler_config = scheduler_config or {"_class_name": "FlowMatchEulerDiscreteScheduler",
                                                     "num_train_timesteps": 1000, "shift": DEFAULTS["shift"]}
        self._files = list(files or [])
        self.latent_channels = vae.config.latent_channels
        self.spatial_compression = vae.config.spatial_compression_ratio
        self.temporal_compression = vae.config.temporal_compression_ratio
        self.size_multiple = self.spatial_compression * transformer.config.patch_size
        self.defaults = {**DEFAULTS, "shift": float(self.scheduler_config.get("shift", DEFAULTS["shift"]))}

    # ---- the components under diffusers' names ------------------------------------------------------------------

    @property
    def text_encoder(self):
        return self.llm.model

    @property
    def tokenizer(self):
        return self.llm.tokenizer

    @property
    def text_encoder_2(self):
        return self.clip.model

    @property
    def tokenizer_2(self):
        return self.clip.tokenizer

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"transformer": self.transformer, "vae": self.vae, "text_encoder": self.text_encoder,
                "text_encoder_2": self.text_encoder_2}

    # ---- VideoPipeline -------------------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str], device=None, dtype=None) -> dict[str, torch.Tensor]:
        """{"encoder_hidden_states": (B, 256, D_llm), "encoder_attention_mask": (B, 256) 0/1,
        "pooled_projections": (B, D_clip)}, in the DiT's dtype unless ``dtype`` says otherwise."""
        if isinstance(prompts, str):
            prompts = [prompts]
        device = device or self.device
        dtype = dtype or self.dtype
        hidden, mask = self.llm(prompts, device=self.text_encoder.device)
        pooled = self.clip(prompts, device=self.text_encoder_2.device)
        return {"encoder_hidden_states": hidden.to(device=device, dtype=dtype),
                "encoder_attention_mask": mask.to(device=device),
                "pooled_projections": pooled.to(device=device, dtype=dtype)}

    def denoise(self, latents: torch.Tensor, timestep: torch.Tensor, text: dict[str, torch.Tensor],
                guidance: torch.Tensor | float | None = None) -> torch.Tensor:
        """Velocity (noise - x0) at ``timestep`` = sigma * 1000; ``guidance`` is the embedded guidance scale
        (default 6.0, used only by the guidance-distilled model; the DiT sees it times 1000)."""
        dtype = self.dtype
        batch = latents.shape[0]
        timestep = torch.as_tensor(timestep, device=latents.device).to(latents.dtype).expand(batch)
        embedded = None
        if getattr(self.transformer.config, "guidance_embeds", False):
            scale = self.defaults["embedded_guidance"] if guidance is None else guidance
            embedded = torch.as_tensor(scale, dtype=dtype, device=latents.device).expand(batch) * 1000.0
        out = self.transformer(hidden_states=latents.to(dtype), timestep=timestep,
                               encoder_hidden_states=text["encoder_hidden_states"].to(dtype),
                               encoder_attention_mask=text["encoder_attention_mask"],
                               pooled_projections=text["pooled_projections"].to(dtype), guidance=embedded)
        return out.to(latents.dtype)

    def to(self, device=None, dtype=None) -> HunyuanVideoPipeline:
        for module in self.modules().values():
            module.to(device=device, dtype=dtype)
        return self

    def weight_files(self) -> list[Path]:
        return list(self._files)

    # ---- training and model parallelism --------------------------------------------------------------------------

    def latent_modules(self) -> list[torch.nn.Module]:
        return [self.vae.encoder, self.vae.quant_conv]  # what makes the latents (frozen in decoder-only training)

    def sequence_parallel(self, group, checkpointing: bool = False):
        from vgen_plugins.hunyuan_video.parallel import sequence_parallel

        return sequence_parallel(self.transformer, group, checkpointing)

    def denoiser_split(self):
        """The DiT cut after its first dual-stream block (step caching: vgen.flow.stepcache)."""
        return self.transformer.split_first_block()

    # ---- saving and loading --------------------------------------------------------------------------------------

    def save(self, folder: str | Path, max_shard_size: int | str = "5GB") -> Path:
        """Write the diffusers layout atomically (the old folder survives a failed save)."""
        from vgen.io.atomic import atomic_dir
        from vgen.io.checkpoint import write_weights

        folder = Path(folder)
        with atomic_dir(folder) as tmp:
            index = {"_class_name": "HunyuanVideoPipeline", "_diffusers_version": DIFFUSERS_VERSION,
                     "transformer": ["diffusers", "HunyuanVideoTransformer3DModel"],
                     "vae": ["diffusers", "AutoencoderKLHunyuanVideo"],
                     "text_encoder": ["transformers", type(self.text_encoder).__name__],
                     "tokenizer": ["transformers", type(self.tokenizer).__name__],
                     "text_encoder_2": ["transformers", type(self.text_encoder_2).__name__],
                     "tokenizer_2": ["transformers", type(self.tokenizer_2).__name__],
                     "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"]}
            (tmp / "model_index.json").write_text(json.dumps(index, indent=2))
            for name, class_name in (("transformer", "HunyuanVideoTransformer3DModel"),
                                     ("vae", "AutoencoderKLHunyuanVideo")):
                module = getattr(self, name)
                write_weights(tmp / name, module.state_dict(), max_shard_size)
                (tmp / name / "config.json").write_text(json.dumps(config_json(module.config, class_name), indent=2))
            for name in ("text_encoder", "text_encoder_2"):
                getattr(self, name).save_pretrained(tmp / name, max_shard_size=max_shard_size)
            for name in ("tokenizer", "tokenizer_2"):
                getattr(self, name).save_pretrained(tmp / name)
            (tmp / "scheduler").mkdir()
            (tmp / "scheduler" / "scheduler_config.json").write_text(json.dumps(self.scheduler_config, indent=2))
        return folder

    @classmethod
    def load(cls, weights_dir: str | Path, device="cpu", dtype: torch.dtype | None = None) -> HunyuanVideoPipeline:
        """Read a diffusers-layout folder; ``dtype`` None keeps each file's dtype."""
        from vgen.io.checkpoint import weight_files

        folder = Path(weights_dir).expanduser()
        if not folder.is_dir():
            raise UserError(f"weights folder not found: {folder}")
        index_path = folder / "model_index.json"
        if not index_path.is_file():
            raise UserError(f"missing {index_path} (a diffusers pipeline folder has one)")
        try:
            index = json.loads(index_path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{index_path}: invalid JSON: {exc}") from None
        for name in COMPONENTS:
            if not (folder / name).is_dir():
                raise UserError(f"missing folder: {folder / name}")

        def class_of(name):
            entry = index.get(name)
            return entry[1] if isinstance(entry, list) and len(entry) == 2 else None

        # tokenizers first: cheap, and a missing one should fail before gigabytes are read
        tokenizer = load_tokenizer(folder / "tokenizer", class_of("tokenizer"))
        tokenizer_2 = load_tokenizer(folder / "tokenizer_2", class_of("tokenizer_2"))
        transformer = load_module(*_dit_classes(), folder / "transformer", device, dtype)
        vae = load_module(*_vae_classes(), folder / "vae", device, dtype)
        llm = LlamaPromptEncoder(load_llama(folder / "text_encoder", device, dtype), tokenizer)
        clip = CLIPPooledEncoder(load_clip_text(folder / "text_encoder_2", device, dtype), tokenizer_2)
        scheduler_path = folder / "scheduler" / "scheduler_config.json"
        scheduler = json.loads(scheduler_path.read_text()) if scheduler_path.is_file() else None
        files = [f for name in ("transformer", "vae", "text_encoder", "text_encoder_2")
                 for f in weight_files(folder / name)]
        return cls(transformer, vae, llm, clip, scheduler, files)

    @classmethod
    def from_config(cls, config: str | dict = "tiny", device="cpu", dtype: torch.dtype = torch.float32,
                    seed: int | None = 0, zero_init_out: bool = False) -> HunyuanVideoPipeline:
        """Random weights from a preset name ("tiny", "13b") or a dict of per-component overrides
        (``{"preset": "tiny", "transformer": {"num_layers": 1}}``); ``device="meta"`` allocates nothing.

        The DiT's final projection starts at zero in the released recipe (``zero_init_out=True``, for training
        from scratch); by default it is random too, so that a random pipeline predicts non-zero velocities and
        parity checks of later stages are not trivially met."""
        spec = _resolve_config(config)
        from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

        tok, tok2 = tiny_tokenizers()
        llama_cfg = LlamaConfig(**{"vocab_size": len(tok), "pad_token_id": tok.pad_token_id,
                                   **spec["text_encoder"]})
        clip_cfg = CLIPTextConfig(**{"vocab_size": len(tok2), "bos_token_id": tok2.bos_token_id,
                                     "eos_token_id": tok2.eos_token_id, "pad_token_id": tok2.pad_token_id,
                                     **spec["text_encoder_2"]})
        dit_cls, dit_cfg_cls = _dit_classes()
        vae_cls, vae_cfg_cls = _vae_classes()
        if seed is not None and device != "meta":
            torch.manual_seed(seed)
        with torch.device(device):
            transformer = dit_cls(make_config(dit_cfg_cls, spec["transformer"]))
            vae = vae_cls(make_config(vae_cfg_cls, spec["vae"]))
            llm = LlamaModel(llama_cfg)
            clip = CLIPTextModel(clip_cfg)
        if not zero_init_out and device != "meta":
            torch.nn.init.normal_(transformer.proj_out.weight, std=0.02)
        for module in (transformer, vae, llm, clip):
            module.to(dtype=dtype).eval().requires_grad_(False)
        return cls(transformer, vae, LlamaPromptEncoder(llm, tok), CLIPPooledEncoder(clip, tok2))


def _resolve_config(config: str | dict) -> dict:
    if isinstance(config, str):
        if config not in PRESETS:
            raise UserError(f"unknown hunyuan-video preset {config!r}; known: {', '.join(PRESETS)}")
        return copy.deepcopy(PRESETS[config])
    preset = config.get("preset", "tiny")
    if preset not in PRESETS:
        raise UserError(f"unknown hunyuan-video preset {preset!r}; known: {', '.join(PRESETS)}")
    spec = copy.deepcopy(PRESETS[preset])
    unknown = set(config) - set(spec) - {"preset"}
    if unknown:
        raise UserError(f"hunyuan-video config: unknown component {sorted(unknown)[0]!r}; known: {', '.join(spec)}")
    for name, overrides in config.items():
        if name != "preset":
            spec[name].update(overrides or {})
    return spec


def build(weights=None, config=None, device="cpu", dtype=torch.float32, **options) -> HunyuanVideoPipeline:
    """The registered factory: ``weights`` (a diffusers folder) or ``config`` (a preset name or dict)."""
    from vgen.device import DTYPES

    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; known: bf16, fp16, fp32")
        dtype = DTYPES[dtype]
    if options:
        raise UserError(f"hunyuan-video: unknown option {sorted(options)[0]!r}")
    if weights is not None:
        return HunyuanVideoPipeline.load(weights, device=device, dtype=dtype)
    # no weights: random weights of a preset (tiny by default: the 13B is only useful on the meta device)
    return HunyuanVideoPipeline.from_config(config or "tiny", device=device, dtype=dtype or torch.float32)
