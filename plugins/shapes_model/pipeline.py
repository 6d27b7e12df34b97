"""The default model, pipeline ``shapes``: HunyuanVideo's causal 3D VAE and MMDiT at small size, with a small
CLIP-style text encoder over the shapes-world vocabulary that is trained together with the DiT.

Why a text encoder of its own: the model must run offline and ship in ~60 MiB. The shapes-world grammar has a few
dozen words, so a word-level tokenizer and a 2-layer CLIP text transformer (per-token states for the DiT's text
stream and a pooled vector for its conditioning) are enough, and training them with the DiT lets them learn exactly
the distinctions the scorer checks. Both are in transformers' formats but load without importing it (clip_text.py,
tokenizer.py say why: start-up time).

Layout on disk (diffusers-style): ``model_index.json``, ``transformer/`` (HunyuanVideoTransformer3DModel),
``vae/`` (AutoencoderKLHunyuanVideo), ``text_encoder/`` (CLIPTextModel), ``tokenizer/`` (a fast tokenizer).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn
from vgen_plugins.shapes_model.clip_text import CLIPTextConfig, CLIPTextModel
from vgen_plugins.shapes_model.tokenizer import SPECIALS, WordTokenizer

from vgen.errors import UserError
from vgen.io.folders import config_json, load_module
from vgen.nn.latents import VAELatents
from vgen.pipeline import PipelineBase

WEIGHTS_DIR = Path(__file__).parent / "weights"
MAX_TOKENS = 32  # the longest two-object prompt is 20 words + <bos>/<eos>

# The sampling defaults, chosen on validation prompt sets (docs/default-model.md, "Sampling settings", has the sweeps).
DEFAULTS = {"steps": 20, "shift": 3.0, "guidance": 4.0, "embedded_guidance": None, "frames": 17, "height": 64,
            "width": 64, "fps": 8, "schedule": "shifted", "sampler": "flow-euler"}

# 1. Component configs. Keys are diffusers' (transformer, vae) and transformers' (text encoder) config keys.
CONFIG = {
    "transformer": {
        "in_channels": 16, "out_channels": 16,  # the VAE's latent channels
        "num_attention_heads": 4, "attention_head_dim": 64,  # width 256
        "num_layers": 4, "num_single_layers": 4, "num_refiner_layers": 1,  # dual-stream, single-stream, refiner
        # 64x64x17 -> 5x8x8 latent -> 320 video tokens. Patch 2 (80 tokens, 4x4 a frame) drew blobs for triangles;
        # the shipped model was trained at patch 2 first, then repatched to 1 and trained on (COARSE, repatch.py)
        "mlp_ratio": 4.0, "patch_size": 1, "patch_size_t": 1,
        "qk_norm": "rms_norm", "guidance_embeds": False,  # true CFG at sampling, no distilled guidance
        "text_embed_dim": 128, "pooled_projection_dim": 128,  # the text encoder's width
        "rope_theta": 256.0, "rope_axes_dim": [16, 24, 24],  # sums to the head dim
    },
    # flat colours need little width: 16-64 channels keep decode ~10 GFLOP at 64x64x17 (CPU sampling budget)
    "vae": {"latent_channels": 16, "block_out_channels": [16, 32, 64, 64], "layers_per_block": 1,
            "norm_num_groups": 8},
    "text_encoder": {"hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "max_position_embeddings": MAX_TOKENS, "projection_dim": 128},
}
COARSE = {"transformer": {"patch_size": 2}}  # step 2 of the recipe chain (recipes shapes-default, -fine)
TINY = {  # seconds on a CPU, for tests
    "transformer": {"num_attention_heads": 2, "attention_head_dim": 16, "num_layers": 1, "num_single_layers": 1,
                    "text_embed_dim": 32, "pooled_projection_dim": 32, "rope_axes_dim": [4, 6, 6],
                    "in_channels": 4, "out_channels": 4},
    "vae": {"latent_channels": 4, "block_out_channels": [8, 8, 8, 8], "norm_num_groups": 4},
    "text_encoder": {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "projection_dim": 32},
}


# 2. The tokenizer: every word of the grammar, built in code so it needs no file (and is saved with the model).
def vocabulary() -> list[str]:
    from vgen_plugins.shapes.world import BACKGROUNDS, COLOURS, MOTIONS, SHAPES, SIZES

    words = ["a", "an", "and", "on", "background", "moving", "standing", "still", "bouncing",
             *SIZES, *COLOURS, *SHAPES, *BACKGROUNDS, *MOTIONS]
    specials = list(SPECIALS.values())
    return specials + sorted(set(words) - set(specials))


def make_tokenizer() -> WordTokenizer:
    return WordTokenizer.from_words(vocabulary(), MAX_TOKENS)


def grammar() -> str:
    """The prompts the default model understands, in one line (README, "The default model", has the card)."""
    from vgen_plugins.shapes.world import BACKGROUNDS, COLOURS, SHAPES, SIZES

    return (f"'a [{'|'.join(SIZES)}] COLOUR SHAPE MOTION [and a ...] [on a {'|'.join(BACKGROUNDS)} background]' with "
            f"COLOUR {'|'.join(COLOURS)}, SHAPE {'|'.join(SHAPES)}, MOTION moving left|right|up|down, bouncing or "
            "standing still (README, 'The default model')")


def prompt_warning(prompt: str) -> str | None:
    """One line naming the words of ``prompt`` the tokenizer does not know (they become <unk>: the model draws
    nothing for them), or saying it is outside the grammar; None for a grammar prompt."""
    import re

    from vgen_plugins.shapes.prompts import is_prompt

    if not prompt.strip() or is_prompt(prompt):
        return None
    known = set(vocabulary())
    unknown = [w for w in dict.fromkeys(re.findall(r"\w+", prompt.lower())) if w not in known]
    if unknown:
        return (f"the default model does not know {', '.join(repr(w) for w in unknown)} (it draws nothing for "
                f"them); it understands {grammar()}")
    return f"{prompt!r} is outside the default model's grammar; it understands {grammar()}"


# 3. The trainable part: text encoder + DiT in one module, so that `vgen train` optimises both together.
class ShapesDenoiser(nn.Module):
    """Token ids -> text states (+ pooled) -> HunyuanVideo DiT -> velocity."""

    # LoRA files name the DiT's layers as diffusers' HunyuanVideoTransformer3DModel does (vgen.nn.lora)
    lora_prefixes = {"dit.": "transformer.", "text_encoder.": "text_encoder."}

    def __init__(self, text_encoder: nn.Module, dit: nn.Module):
        super().__init__()
        self.text_encoder = text_encoder
        self.dit = dit

    @property
    def config(self):
        return self.dit.config

    def forward(self, hidden_states, timestep, input_ids, attention_mask, guidance=None):
        text = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask)
        return self.dit(hidden_states=hidden_states, timestep=timestep,
                        encoder_hidden_states=text.last_hidden_state.to(hidden_states.dtype),
                        encoder_attention_mask=attention_mask,
                        pooled_projections=text.pooler_output.to(hidden_states.dtype), guidance=guidance)


def _classes():
    from vgen_plugins.hunyuan_video.transformer import HunyuanVideoTransformer3DModel, HunyuanVideoTransformerConfig
    from vgen_plugins.hunyuan_video.vae import AutoencoderKLHunyuanVideo, HunyuanVideoVAEConfig

    return HunyuanVideoTransformer3DModel, HunyuanVideoTransformerConfig, AutoencoderKLHunyuanVideo, \
        HunyuanVideoVAEConfig


def _clip_config(spec: dict, tokenizer) -> CLIPTextConfig:
    return CLIPTextConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **spec)


def _read_config(path: Path) -> CLIPTextConfig:
    try:
        return CLIPTextConfig.from_json_file(path)
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{path}: cannot read the text encoder's config: {exc}") from None


def resolve_config(config: str | dict | None) -> dict:
    """"default", "tiny", or a dict of per-component overrides ({"preset": "tiny", "vae": {...}})."""
    if config is None or isinstance(config, str):
        config = {"preset": config or "default"}
    preset = config.get("preset", "default")
    if preset not in ("default", "tiny"):
        raise UserError(f"unknown shapes preset {preset!r}; known: default, tiny")
    spec = copy.deepcopy(CONFIG)
    for name, overrides in (TINY if preset == "tiny" else {}).items():
        spec[name].update(overrides)
    for name, overrides in config.items():
        if name == "preset":
            continue
        if name not in spec:
            raise UserError(f"shapes config: unknown component {name!r}; known: {', '.join(spec)}")
        spec[name].update(overrides or {})
    return spec


class ShapesPipeline(VAELatents, PipelineBase):
    """The default text-to-video model: ``encode_prompt`` (token ids) -> ``denoise`` -> ``decode``."""

    name = "shapes"
    max_prompt_tokens = MAX_TOKENS - 2  # words; <bos> and <eos> take the other two (sample warns when cut)

    def __init__(self, transformer: ShapesDenoiser, vae, tokenizer, files: list[Path] | None = None):
        self.transformer = transformer
        self.vae = vae
        self.tokenizer = tokenizer
        self._files = list(files or [])
        self.latent_channels = vae.config.latent_channels
        self.spatial_compression = vae.config.spatial_compression_ratio
        self.temporal_compression = vae.config.temporal_compression_ratio
        self.defaults = dict(DEFAULTS)
        # 64x64x17 decodes in one piece; the sample stage turns tiling on for large sizes
        vae.disable_tiling(temporal=True)

    @property
    def size_multiple(self) -> int:  # height and width: multiples of the VAE's compression x the DiT's patch
        return self.spatial_compression * self.transformer.dit.config.patch_size

    @property
    def text_encoder(self):
        return self.transformer.text_encoder

    def encode_prompt(self, prompts: list[str], device=None, dtype=None) -> dict[str, torch.Tensor]:
        """{"input_ids", "attention_mask"}: (B, 32) each; the text encoder runs inside the denoiser."""
        if isinstance(prompts, str):
            prompts = [prompts]
        enc = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=MAX_TOKENS,
                             return_tensors="pt")
        device = device or self.device
        return {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device)}

    def prompt_warning(self, prompt: str) -> str | None:
        """The line that names what the model was not trained on in ``prompt`` (a smear without a word surprises),
        once a prompt (vgen.flow.loop.check_prompts warns with it). Pipelines built on this one whose prompts are
        other texts (shapes-edit: instructions) check their own."""
        warned = self.__dict__.setdefault("_warned", set())
        if self.name != ShapesPipeline.name or prompt in warned:
            return None
        warned.add(prompt)
        return prompt_warning(prompt)

    def denoise(self, latents, timestep, text, guidance=None):
        batch = latents.shape[0]
        timestep = torch.as_tensor(timestep, device=latents.device).to(latents.dtype).expand(batch)
        out = self.transformer(latents.to(self.dtype), timestep, text["input_ids"], text["attention_mask"])
        return out.to(latents.dtype)

    def to(self, device=None, dtype=None) -> ShapesPipeline:
        self.transformer.to(device=device, dtype=dtype)
        self.vae.to(device=device, dtype=dtype)
        return self

    def weight_files(self) -> list[Path]:
        return list(self._files)

    # ---- training and model parallelism --------------------------------------------------------------------------

    def latent_modules(self) -> list[torch.nn.Module]:
        return [self.vae.encoder, self.vae.quant_conv]  # what makes the latents (frozen in decoder-only training)

    def sequence_parallel(self, group, checkpointing: bool = False):
        """The HunyuanVideo DiT inside the denoiser splits; the text encoder runs replicated."""
        from vgen_plugins.hunyuan_video.parallel import sequence_parallel

        return sequence_parallel(self.transformer.dit, group, checkpointing)

    def denoiser_split(self):
        """The HunyuanVideo DiT inside the denoiser, cut after its first dual-stream block (step caching); the text
        encoder runs before it as always."""
        return self.transformer.dit.split_first_block()

    # ---- saving and loading --------------------------------------------------------------------------------------

    def save(self, folder: str | Path, max_shard_size: int | str = "14MB", dtype: torch.dtype | None = None) -> Path:
        """Write the folder atomically; ``dtype`` (e.g. bf16) casts floating weights on the way out."""
        from vgen.io.atomic import atomic_dir
        from vgen.io.checkpoint import write_weights

        def cast(state):
            return {k: v.to(dtype) if dtype is not None and v.is_floating_point() else v for k, v in state.items()}

        folder = Path(folder)
        with atomic_dir(folder) as tmp:
            index = {"_class_name": "ShapesPipeline", "transformer": ["diffusers", "HunyuanVideoTransformer3DModel"],
                     "vae": ["diffusers", "AutoencoderKLHunyuanVideo"],
                     "text_encoder": ["transformers", "CLIPTextModel"],
                     "tokenizer": ["transformers", "PreTrainedTokenizerFast"]}
            (tmp / "model_index.json").write_text(json.dumps(index, indent=2))
            for name, module, class_name in (("transformer", self.transformer.dit, "HunyuanVideoTransformer3DModel"),
                                             ("vae", self.vae, "AutoencoderKLHunyuanVideo")):
                write_weights(tmp / name, cast(module.state_dict()), max_shard_size)
                (tmp / name / "config.json").write_text(json.dumps(config_json(module.config, class_name), indent=2))
            write_weights(tmp / "text_encoder", cast(self.text_encoder.state_dict()), max_shard_size,
                          weights_name="model.safetensors")
            self.text_encoder.config.to_json_file(str(tmp / "text_encoder" / "config.json"))
            self.tokenizer.save_pretrained(tmp / "tokenizer")
        return folder

    @classmethod
    def load(cls, folder: str | Path, device="cpu", dtype: torch.dtype | None = None) -> ShapesPipeline:
        from vgen.io.checkpoint import load_into, weight_files

        folder = Path(folder).expanduser()
        for name in ("model_index.json", "transformer", "vae", "text_encoder", "tokenizer"):
            if not (folder / name).exists():
                raise UserError(f"missing {folder / name} (not a shapes model folder)")
        dit_cls, dit_cfg, vae_cls, vae_cfg = _classes()
        try:
            tokenizer = WordTokenizer.from_pretrained(folder / "tokenizer")
        except Exception as exc:  # noqa: BLE001 (tokenizers raises a bare Exception for a bad tokenizer.json)
            raise UserError(f"{folder / 'tokenizer'}: cannot load tokenizer: {exc}") from None
        dit = load_module(dit_cls, dit_cfg, folder / "transformer", device, dtype)
        vae = load_module(vae_cls, vae_cfg, folder / "vae", device, dtype)
        # built for real, not on the meta device: 0.2M parameters initialise in a millisecond, while random init of
        # a meta tensor imports torch._dynamo (2 s of start-up)
        text_encoder = CLIPTextModel(_read_config(folder / "text_encoder" / "config.json"))
        load_into(text_encoder, folder / "text_encoder", dtype=dtype, device=device, key_map=CLIPTextModel.key_map)
        text_encoder = text_encoder.to(device).eval().requires_grad_(False)
        files = [f for name in ("transformer", "vae", "text_encoder") for f in weight_files(folder / name)]
        return cls(ShapesDenoiser(text_encoder, dit), vae, tokenizer, files)

    @classmethod
    def from_config(cls, config: str | dict | None = "default", device="cpu", dtype=torch.float32,
                    seed: int | None = 0) -> ShapesPipeline:
        """Random weights (training starts here): the DiT's output projection starts at zero, as in HunyuanVideo."""
        spec = resolve_config(config)
        dit_cls, dit_cfg, vae_cls, vae_cfg = _classes()
        tokenizer = make_tokenizer()
        if seed is not None:
            torch.manual_seed(seed)
        with torch.device(device):
            dit = dit_cls(dit_cfg.from_dict(spec["transformer"]))
            vae = vae_cls(vae_cfg.from_dict(spec["vae"]))
            text_encoder = CLIPTextModel(_clip_config(spec["text_encoder"], tokenizer))
        nn.init.zeros_(dit.proj_out.weight)
        nn.init.zeros_(dit.proj_out.bias)
        for module in (dit, vae, text_encoder):
            module.to(dtype=dtype).eval().requires_grad_(False)
        return cls(ShapesDenoiser(text_encoder, dit), vae, tokenizer)

    def repatched(self, patch_size: int) -> ShapesPipeline:
        """The same model with the DiT at another spatial patch size (weights adapted: hunyuan_video/repatch.py);
        the starting point for training a finer-token model from a trained coarser one."""
        from vgen_plugins.hunyuan_video.repatch import repatch

        self.transformer.dit = repatch(self.transformer.dit, patch_size)
        return self

    def grown(self, dual: int = 0, single: int = 0) -> ShapesPipeline:
        """The same model with ``dual`` / ``single`` more DiT blocks that start as the identity
        (hunyuan_video/grow.py): a deeper model that begins where the trained one is."""
        from vgen_plugins.hunyuan_video.grow import grow

        self.transformer.dit = grow(self.transformer.dit, dual, single)
        return self

    @classmethod
    def with_vae(cls, vae_folder: str | Path, seed: int = 0, config: str | dict = "default") -> ShapesPipeline:
        """Step 2's starting point: random DiT and text encoder (as step 1 starts them) with a trained VAE folder
        (its weights and its fitted scaling factor)."""
        from vgen.io.checkpoint import load_into

        vae_folder = Path(vae_folder)
        pipe = cls.from_config(config, seed=seed)
        load_into(pipe.vae, vae_folder)
        pipe.vae.config.scaling_factor = json.loads((vae_folder / "config.json").read_text())["scaling_factor"]
        return pipe


def build(weights=None, config=None, device="cpu", dtype=torch.float32, **options) -> ShapesPipeline:
    """The registered factory: the shipped weights by default, a folder, or random weights from ``config``."""
    from vgen.device import DTYPES

    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; known: bf16, fp16, fp32")
        dtype = DTYPES[dtype]
    if config is not None and weights is None:
        return ShapesPipeline.from_config(config, device=device, dtype=dtype, **options)
    folder = Path(weights) if weights is not None else WEIGHTS_DIR
    if weights is None and not (folder / "model_index.json").is_file():
        raise UserError(f"the default model's weights are not in this build ({folder}); train them with "
                        "scripts/train_default_model.sh (recipes shapes-default-vae, shapes-default) and pass "
                        "--weights DIR/dit/final-ema, or pick another --pipeline")
    return ShapesPipeline.load(folder, device=device, dtype=dtype)
