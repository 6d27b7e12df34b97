"""The ``moviegen`` pipeline: UL2 + ByT5 + MetaCLIP text encoders, the LLaMa-style DiT and the TAE behind
``vgen.pipeline.VideoPipeline``.

Folder layout (``vgen.load("moviegen", weights=DIR)``; ``save`` writes it)::

    model_index.json            {"_class_name": "MovieGenPipeline", "<component>": [library, class], ...}
    transformer/                config.json + safetensors: MovieGenTransformer (transformer.py)
    vae/                        config.json + safetensors: MovieGenTAE (tae.py)
    text_encoder/  tokenizer/   UL2: a transformers T5 encoder (or whole T5) folder + its tokenizer
    text_encoder_2/ tokenizer_2/ ByT5: a T5 encoder folder + ByT5Tokenizer
    text_encoder_3/ tokenizer_3/ Long-prompt MetaCLIP: a CLIPTextModel folder (256 positions) + its tokenizer

A folder may hold only some components (``vgen convert inflate-tae`` writes model_index.json + vae/ alone); the
ones model_index.json lists load, and using one that is missing is a one-line error. Random weights come from a
preset: ``tiny`` (tests), ``shapes`` (the small model of the shapes world) or ``30b`` (the paper's sizes; use
``device="meta"``).

Sampling follows MovieGen: Euler steps on the linear-quadratic schedule (50 steps), classifier-free guidance 7.5,
the DiT seeing ``timestep = sigma * 1000`` and predicting the velocity noise - x0 (vgen's convention; MovieGen's
sigma_min of 1e-5 changes it by 1e-5 of the noise).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

from vgen.errors import UserError
from vgen.nn.latents import VAELatents
from vgen.pipeline import PipelineBase

DEFAULTS = {"steps": 50, "shift": 1.0, "guidance": 7.5, "embedded_guidance": None, "frames": 257, "height": 768,
            "width": 1360, "fps": 16, "schedule": "linear-quadratic", "sampler": "flow-euler"}

PRESETS = {
    "30b": {"transformer": {}, "vae": {},  # the paper's DiT; UL2-20B's encoder, ByT5-small, MetaCLIP bigG text
            "text": {"ul2": {"d_model": 4096, "d_kv": 256, "d_ff": 16384, "num_layers": 32, "num_heads": 16,
                             "vocab_size": 32128},
                     "byt5": {"d_model": 1472, "d_kv": 64, "d_ff": 3584, "num_layers": 12, "num_heads": 6},
                     "metaclip": {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
                                  "num_attention_heads": 20, "vocab_size": 49408}},
            "defaults": {}},
    "tiny": {  # a CPU second: 2 DiT layers of width 32, a 3-block TAE (4x), 1-2 layer encoders of width 16-32
        "transformer": {"in_channels": 4, "out_channels": 4, "hidden_size": 32, "num_layers": 2,
                        "num_attention_heads": 4, "ffn_dim": 64, "max_positions": [4, 8, 8],
                        "text_dims": {"ul2": 32, "byt5": 16, "metaclip": 32}},
        "vae": {"latent_channels": 4, "block_out_channels": [8, 8, 8], "layers_per_block": 1, "norm_num_groups": 4,
                "tile_frames": 8, "tile_overlap": 4},
        "text": {"ul2": {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4},
                 "byt5": {"d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1, "num_heads": 2},
                 "metaclip": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                              "num_attention_heads": 4}},
        "defaults": {"steps": 2, "frames": 9, "height": 32, "width": 32, "guidance": 4.0}},
    "shapes": {  # 64x64x17 shapes-world videos -> 3x8x8 latents -> 192 tokens (patch 1x1x1 over a 16-channel TAE)
        "transformer": {"in_channels": 16, "out_channels": 16, "hidden_size": 192, "num_layers": 6,
                        "num_attention_heads": 4, "ffn_dim": 512, "patch_size": [1, 1, 1],
                        "max_positions": [3, 8, 8], "text_dims": {"ul2": 64, "byt5": 32, "metaclip": 64}},
        "vae": {"latent_channels": 16, "block_out_channels": [16, 32, 64, 64], "layers_per_block": 1,
                "norm_num_groups": 8},
        "text": {"ul2": {"d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2, "num_heads": 4},
                 "byt5": {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 1, "num_heads": 4},
                 "metaclip": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                              "num_attention_heads": 4}},
        "defaults": {"steps": 30, "frames": 17, "height": 64, "width": 64, "fps": 8, "guidance": 4.0}},
}
ENCODER_NAMES = ("ul2", "byt5", "metaclip")
COMPONENTS = {"transformer": "MovieGenTransformer", "vae": "MovieGenTAE"}


def _classes(name: str):
    if name == "transformer":
        from vgen_plugins.moviegen.transformer import MovieGenTransformer, MovieGenTransformerConfig

        return MovieGenTransformer, MovieGenTransformerConfig
    from vgen_plugins.moviegen.tae import MovieGenTAE, TAEConfig

    return MovieGenTAE, TAEConfig


def save_components(folder: str | Path, parts: dict, max_shard_size: int | str = "5GB",
                    dtype: torch.dtype | None = None, defaults: dict | None = None) -> Path:
    """Write a pipeline folder (atomically) holding ``parts``: "transformer" / "vae" modules and text encoders by
    name ("ul2", "byt5", "metaclip"); ``dtype`` casts floating weights of the first two on the way out;
    ``defaults`` (the sampling defaults that differ from MovieGen's) go into model_index.json."""
    from vgen_plugins.moviegen.text_encoders import ENCODERS, save_encoder

    from vgen.io.atomic import atomic_dir
    from vgen.io.checkpoint import write_weights
    from vgen.io.folders import config_json

    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        index = {"_class_name": "MovieGenPipeline"}
        if defaults:
            index["vgen_sample_defaults"] = defaults
        for name, part in parts.items():
            if name in COMPONENTS:
                state = {k: v.to(dtype) if dtype is not None and v.is_floating_point() else v
                         for k, v in part.state_dict().items()}
                write_weights(tmp / name, state, max_shard_size)
                (tmp / name / "config.json").write_text(json.dumps(config_json(part.config, COMPONENTS[name]),
                                                                   indent=2))
                index[name] = ["vgen_plugins.moviegen", COMPONENTS[name]]
            else:
                save_encoder(part, tmp, max_shard_size)
                model_dir, tok_dir, class_name, _ = ENCODERS[name]
                index[model_dir] = ["transformers", class_name]
                index[tok_dir] = ["transformers", type(part.tokenizer).__name__]
        (tmp / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder


class MovieGenPipeline(VAELatents, PipelineBase):
    """MovieGen text-to-video: ``encode_prompt`` -> ``denoise`` (per step, CFG by the sample stage) -> ``decode``."""

    name = "moviegen"

    def __init__(self, transformer=None, vae=None, encoders: dict | None = None, defaults: dict | None = None,
                 files: list[Path] | None = None, source: str = "random weights"):
        self._parts = {"transformer": transformer, "vae": vae}
        self.encoders = dict(encoders or {})
        self.defaults = {**DEFAULTS, **(defaults or {})}
        self._files, self._source = list(files or []), source

    def _part(self, name: str):
        part = self._parts[name]
        if part is None:
            raise UserError(f"moviegen: this pipeline has no {name} ({self._source} holds no {name}/ component)")
        return part

    @property
    def transformer(self):
        return self._part("transformer")

    @transformer.setter
    def transformer(self, module):
        self._parts["transformer"] = module

    @property
    def vae(self):
        return self._part("vae")

    @vae.setter
    def vae(self, module):
        self._parts["vae"] = module

    # ---- sizes: from the TAE and the DiT -----------------------------------------------------------------------

    @property
    def latent_channels(self) -> int:
        return self.vae.config.latent_channels

    @property
    def spatial_compression(self) -> int:
        return self.vae.config.compression

    @property
    def temporal_compression(self) -> int:
        return self.vae.config.compression

    @property
    def size_multiple(self) -> int:
        return self.spatial_compression * self.transformer.config.patch_size[1]

    def modules(self) -> dict[str, torch.nn.Module]:
        mods = {k: v for k, v in self._parts.items() if v is not None}
        mods.update({f"text_encoder_{name}": enc.model for name, enc in self.encoders.items()})
        return mods

    # ---- VideoPipeline -----------------------------------------------------------------------------------------

    @property
    def text_encoder(self):  # diffusers' attribute name (export finds the first text encoder under it)
        return self.encoders["ul2"].model if "ul2" in self.encoders else None

    def encode_prompt(self, prompts: list[str], device=None, dtype=None) -> dict[str, torch.Tensor]:
        """{"ul2", "byt5", "metaclip": (B, L, D) states; "<name>_mask": (B, L)}, the prompts with "FPS-<fps>"."""
        from vgen_plugins.moviegen.text_encoders import encode

        if isinstance(prompts, str):
            prompts = [prompts]
        if not self.encoders:
            raise UserError(f"moviegen: this pipeline has no text encoders ({self._source} holds none)")
        needed = set(getattr(self._parts["transformer"], "text_projections", {}) or {}) - set(self.encoders)
        if needed:
            raise UserError(f"moviegen: the DiT reads the {sorted(needed)[0]} text encoder, which this pipeline "
                            f"lacks ({self._source})")
        device = device or (self.device if self._parts["transformer"] is not None else "cpu")
        dtype = dtype or (self.dtype if self._parts["transformer"] is not None else torch.float32)
        out = encode(self.encoders, prompts, self.defaults["fps"])
        return {k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in out.items()}

    def denoise(self, latents: torch.Tensor, timestep: torch.Tensor, text: dict[str, torch.Tensor],
                guidance=None) -> torch.Tensor:
        """Velocity (noise - x0) at ``timestep`` = sigma * 1000 (CFG is the sample stage's: ``guidance`` unused)."""
        batch = latents.shape[0]
        timestep = torch.as_tensor(timestep, device=latents.device).to(latents.dtype).expand(batch)
        return self.transformer(latents.to(self.dtype), timestep, **text).to(latents.dtype)

    def encode_video(self, video, sample: bool = False, generator=None) -> torch.Tensor:
        z = super().encode_video(video, sample, generator)
        shift = self.vae.config.shift_factor or 0.0
        return z - shift * self.vae.config.scaling_factor if shift else z

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        shift = self.vae.config.shift_factor or 0.0
        return super().decode(latents + shift * self.vae.config.scaling_factor if shift else latents)

    def to(self, device=None, dtype=None) -> MovieGenPipeline:
        for module in self._parts.values():
            if module is not None:
                module.to(device=device, dtype=dtype)
        for enc in self.encoders.values():
            enc.model.to(device=device)  # text encoders keep their dtype (T5 is unstable in fp16)
        return self

    def weight_files(self) -> list[Path]:
        return list(self._files)

    # ---- training and model parallelism ------------------------------------------------------------------------

    def latent_modules(self) -> list[torch.nn.Module]:
        vae = self.vae
        return [vae.encoder] + ([vae.quant_conv] if vae.quant_conv is not None else [])

    def sequence_parallel(self, group, checkpointing: bool = False):
        """The DiT's video tokens split over ``group`` (Ulysses); the text encoders and cross-attention keys run
        replicated."""
        from vgen_plugins.moviegen.transformer import sequence_split

        from vgen.distributed.ulysses import sequence_parallel

        return sequence_parallel(self.transformer, group, sequence_split(self.transformer), checkpointing)

    def denoiser_split(self):
        """The DiT cut after its first block (step caching: vgen.flow.stepcache)."""
        return self.transformer.split_first_block()

    # ---- saving and loading --------------------------------------------------------------------------------------

    def save(self, folder: str | Path, max_shard_size: int | str = "5GB", dtype: torch.dtype | None = None) -> Path:
        parts = {k: v for k, v in self._parts.items() if v is not None}
        changed = {k: v for k, v in self.defaults.items() if DEFAULTS.get(k) != v}
        return save_components(folder, {**parts, **self.encoders}, max_shard_size, dtype, changed)

    @classmethod
    def load(cls, folder: str | Path, device="cpu", dtype: torch.dtype | None = None,
             defaults: dict | None = None) -> MovieGenPipeline:
        """The components that ``model_index.json`` lists (and only those)."""
        from vgen_plugins.moviegen.text_encoders import ENCODERS, load_encoder

        from vgen.io.checkpoint import weight_files
        from vgen.io.folders import load_module

        folder = Path(folder).expanduser()
        index_path = folder / "model_index.json"
        if not index_path.is_file():
            raise UserError(f"missing {index_path} (a moviegen pipeline folder has one)")
        try:
            index = json.loads(index_path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{index_path}: invalid JSON: {exc}") from None
        parts, files = {}, []
        for name in COMPONENTS:
            if name in index:
                if not (folder / name).is_dir():
                    raise UserError(f"missing folder: {folder / name} (listed in model_index.json)")
                parts[name] = load_module(*_classes(name), folder / name, device, dtype)
                files += weight_files(folder / name)
        encoders = {name: load_encoder(name, folder, device)
                    for name, (model_dir, *_rest) in ENCODERS.items() if model_dir in index}
        files += [f for name in encoders for f in weight_files(folder / ENCODERS[name][0])]
        if not parts and not encoders:
            raise UserError(f"{index_path} lists no moviegen component (transformer, vae, text_encoder, ...)")
        defaults = {**index.get("vgen_sample_defaults", {}), **(defaults or {})}
        return cls(parts.get("transformer"), parts.get("vae"), encoders, defaults, files, str(folder))

    @classmethod
    def from_config(cls, config: str | dict = "tiny", device="cpu", dtype: torch.dtype = torch.float32,
                    seed: int | None = 0) -> MovieGenPipeline:
        """Random weights from a preset ("tiny", "shapes", "30b") or {"preset": ..., "<component>": overrides}."""
        from vgen_plugins.moviegen.text_encoders import tiny_encoders

        spec = resolve_config(config)
        dit_cls, dit_cfg = _classes("transformer")
        vae_cls, vae_cfg = _classes("vae")
        if seed is not None and device != "meta":
            torch.manual_seed(seed)
        with torch.device(device):
            dit = dit_cls(dit_cfg.from_dict(spec["transformer"]))
            vae = vae_cls(vae_cfg.from_dict(spec["vae"]))
        for module in (dit, vae):
            module.to(dtype=dtype).eval().requires_grad_(False)
        encoders = {}
        if device != "meta":  # the 30B's text encoders are tens of GB: only their configs matter there
            text = {k: v for k, v in spec["text"].items() if dit.config.text_dims.get(k)}
            encoders = tiny_encoders(text, words=spec.get("words"))
        return cls(dit, vae, encoders, spec["defaults"])


def resolve_config(config: str | dict | None) -> dict:
    if config is None or isinstance(config, str):
        config = {"preset": config or "tiny"}
    preset = config.get("preset", "tiny")
    if preset not in PRESETS:
        raise UserError(f"unknown moviegen preset {preset!r}; known: {', '.join(PRESETS)}")
    spec = copy.deepcopy(PRESETS[preset])
    for name, overrides in config.items():
        if name == "preset":
            continue
        if name not in spec:
            raise UserError(f"moviegen config: unknown component {name!r}; known: {', '.join(spec)}")
        if name == "text":
            for enc, values in (overrides or {}).items():
                spec["text"].setdefault(enc, {}).update(values or {})
        else:
            spec[name].update(overrides or {})
    if preset == "shapes":
        from vgen_plugins.shapes_model.pipeline import vocabulary

        spec["words"] = [w for w in vocabulary() if not w.startswith("<")] + ["fps", "-", "8", "16", "24"]
    return spec


def build(weights=None, config=None, device="cpu", dtype=torch.float32, **options) -> MovieGenPipeline:
    """The registered factory: a pipeline folder (``weights``) or random weights of a preset (``config``)."""
    from vgen.device import DTYPES

    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; known: bf16, fp16, fp32")
        dtype = DTYPES[dtype]
    if options:
        raise UserError(f"moviegen: unknown option {sorted(options)[0]!r}")
    if weights is not None:
        return MovieGenPipeline.load(weights, device=device, dtype=dtype)
    return MovieGenPipeline.from_config(config or "tiny", device=device, dtype=dtype or torch.float32)


WEIGHTS_DIR = Path(__file__).parent / "weights"  # the shipped moviegen-shapes model


def build_shapes(weights=None, config=None, device="cpu", dtype=torch.float32, **options) -> MovieGenPipeline:
    """``moviegen-shapes``: the shipped small model by default, a folder (``weights``), or random weights of the
    shapes preset (``config``: "shapes" or overrides of it)."""
    if weights is None and config is not None:
        config = {"preset": "shapes", **({} if config == "shapes" else
                                         config if isinstance(config, dict) else {"preset": config})}
        return build(config=config, device=device, dtype=dtype, **options)
    if weights is None and not (WEIGHTS_DIR / "model_index.json").is_file():
        raise UserError(f"the moviegen-shapes weights are not in this build ({WEIGHTS_DIR}); train them with "
                        "scripts/train_moviegen_shapes.sh and pass --weights DIR, or --config shapes for random ones")
    return build(weights=weights or WEIGHTS_DIR, device=device, dtype=dtype, **options)
