"""The dub model: audio autoencoder + audio DiT + a video feature extractor, as one ``vgen.contract.AudioModel``.

A model folder holds ``config.json`` (the three configs and the sampling defaults) and ``model.safetensors``
(``autoencoder.*`` and ``dit.*``). Sound longer than one window is made window by window; each window after the first
is given the end of the one before as context (``overlap_seconds``), as a kept soundtrack is given to ``--extend``;
the last ``lookahead_seconds`` of a window are made again by the next one, which sees the video beyond them (a sound
starts before its frame: the autoencoder's STFT window spreads a click over the latent frames beside it).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import torch
from vgen_plugins.audio.autoencoder import AutoencoderConfig, build_autoencoder
from vgen_plugins.audio.dit import AudioDiT, DiTConfig, tokenize
from vgen_plugins.audio.features import resample
from vgen_plugins.audio.sampling import midpoint_sample

from vgen import registry
from vgen.errors import UserError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
SHIPPED = Path(__file__).parent / "weights" / "shapes-dub"

_SAMPLING = {"window_seconds": 2.0, "overlap_seconds": 0.5, "steps": 16, "guidance": 2.0, "shift": 1.0,
             "latent_mean": 0.0, "latent_std": 1.0, "fade_seconds": 0.003, "edge_frames": 2,
             "lookahead_seconds": 0.08}
_SHAPES_DIT = {"latent_dim": 16, "feature_dim": 768, "width": 160, "depth": 4, "heads": 4}
PRESETS = {
    # the shapes world's 16 kHz sound at 25 latent frames per second (4 STFT frames of 160 samples each, 2048-point
    # window), pixel features: 16 x 16 thumbnails + 4 x 4 x 4 colour histograms; shift 3: the tone is chosen at high
    # noise (docs/dub.md)
    "shapes": {"autoencoder": {"sample_rate": 16000, "kind": "spectral", "strides": [4], "latent_dim": 16,
                               "n_fft": 2048, "frame_hop": 160},
               "dit": {**_SHAPES_DIT, "feature_dim": 768 + 64, "feature_layers": 2},
               "features": {"name": "pixels", "options": {"size": 16, "histogram": 4}}, **{**_SAMPLING, "shift": 3.0}},
    # the first shapes layout: a waveform autoencoder (hop 640); kept to compare with (docs/dub.md)
    "shapes-waveform": {"autoencoder": {"sample_rate": 16000, "strides": [4, 4, 5, 8],
                                        "channels": [16, 32, 64, 128], "latent_dim": 16},
                        "dit": _SHAPES_DIT, "features": {"name": "pixels", "options": {"size": 16}}, **_SAMPLING},
    # MovieGen Audio's layout: 48 kHz at 25 Hz (hop 1920), CLIP frame features (a local folder: features_path)
    "moviegen-48k": {"autoencoder": {"sample_rate": 48000, "strides": [2, 4, 5, 6, 8],
                                     "channels": [32, 64, 128, 256, 512], "latent_dim": 64},
                     "dit": {"latent_dim": 64, "feature_dim": 512, "width": 768, "depth": 12, "heads": 12,
                             "mlp_ratio": 4.0, "vocab": 32768, "max_words": 128},
                     "features": {"name": "clip", "options": {}}, **{**_SAMPLING, "window_seconds": 10.0,
                                                                      "overlap_seconds": 2.0, "steps": 64,
                                                                      "guidance": 3.0}},
    # for tests: a few thousand parameters (spectral and waveform autoencoders)
    "tiny": {"autoencoder": {"sample_rate": 16000, "kind": "spectral", "strides": [4], "latent_dim": 4,
                             "n_fft": 256, "frame_hop": 160, "griffin_lim_iters": 4},
             "dit": {"latent_dim": 4, "feature_dim": 48 + 8, "width": 32, "depth": 2, "heads": 2, "vocab": 64,
                     "max_words": 8, "feature_layers": 2},
             "features": {"name": "pixels", "options": {"size": 4, "histogram": 2}},
             **{**_SAMPLING, "window_seconds": 1.0, "overlap_seconds": 0.24, "steps": 2}},
}
PRESETS["tiny-waveform"] = {**PRESETS["tiny"], "autoencoder": {"sample_rate": 16000, "strides": [4, 4, 5, 8],
                                                               "channels": [4, 8, 8, 8], "latent_dim": 4,
                                                               "dilations": [1]}}


class DubModel:
    """``generate`` makes the soundtrack of a video; ``autoencoder`` and ``dit`` are what training targets train."""

    def __init__(self, config: dict, device="cpu", folder: Path | None = None):
        self.config = copy.deepcopy(config)
        self.device = torch.device(device)
        self.folder = folder
        try:
            ae_config, dit_config = AutoencoderConfig(**config["autoencoder"]), DiTConfig(**config["dit"])
        except (TypeError, ValueError, KeyError) as e:
            raise UserError(f"{folder or 'dub model config'}: not a dub model config ({e})") from None
        self.autoencoder = build_autoencoder(ae_config).to(self.device).eval()
        self.dit = AudioDiT(dit_config).to(self.device).eval()
        self._features = None

    # ------------------------------------------------------------------------------------------- loading, saving

    @classmethod
    def build(cls, weights=None, config=None, device="cpu", features_path=None) -> DubModel:
        if weights is not None:
            return cls.load(weights, device, features_path)
        if isinstance(config, dict):
            cfg = config
        else:
            if config not in PRESETS:
                raise UserError(f"unknown dub model config {config!r}; known: {', '.join(sorted(PRESETS))}")
            cfg = PRESETS[config]
        with torch.random.fork_rng(devices=[]):  # random weights of a preset are the same in every process
            torch.manual_seed(0)
            model = cls(cfg, device)
        if features_path is not None:
            model.config["features"]["options"]["path"] = str(features_path)
        return model

    @classmethod
    def load(cls, folder, device="cpu", features_path=None) -> DubModel:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
            raise UserError(f"{folder}: not a dub model folder ({CONFIG} and {WEIGHTS} expected)")
        model = cls(json.loads((folder / CONFIG).read_text()), device, folder)
        state = {k: v.float() for k, v in load_file(str(folder / WEIGHTS)).items()}
        model.autoencoder.load_state_dict({k[12:]: v for k, v in state.items() if k.startswith("autoencoder.")})
        model.dit.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("dit.")})
        if features_path is not None:
            model.config["features"]["options"]["path"] = str(features_path)
        return model

    def save(self, folder, dtype=torch.float32) -> Path:
        from safetensors.torch import save_file

        from vgen.io.atomic import atomic_path, write_text

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {f"autoencoder.{k}": v for k, v in self.autoencoder.state_dict().items()}
        state.update({f"dit.{k}": v for k, v in self.dit.state_dict().items()})
        state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in state.items()}
        with atomic_path(folder / WEIGHTS, suffix=".safetensors") as tmp:
            save_file(state, str(tmp))
        write_text(folder / CONFIG, json.dumps(self.config, indent=2) + "\n")
        return folder

    def weight_files(self) -> list[Path]:
        return [self.folder / WEIGHTS] if self.folder is not None else []

    # ---------------------------------------------------------------------------------------------- properties

    @property
    def sample_rate(self) -> int:
        return int(self.config["autoencoder"]["sample_rate"])

    @property
    def latent_rate(self) -> float:
        return self.autoencoder.config.latent_rate

    @property
    def features(self):
        if self._features is None:
            spec = self.config["features"]
            self._features = registry.build("video_features", spec["name"], device=self.device,
                                            **spec.get("options", {}))
        return self._features

    def settings(self, steps: int | None = None, guidance: float | None = None) -> dict:
        c = self.config  # a folder saved before lookahead_seconds existed keeps the windows it was measured with
        return {"steps": int(steps or c["steps"]), "guidance": float(c["guidance"] if guidance is None else guidance),
                "shift": c["shift"], "window_seconds": c["window_seconds"], "overlap_seconds": c["overlap_seconds"],
                "lookahead_seconds": c.get("lookahead_seconds", 0.0), "sampler": "midpoint",
                "sample_rate": self.sample_rate}

    # --------------------------------------------------------------------------------------------- latents

    @torch.no_grad()
    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, 1, S) waveform -> (B, N, latent_dim) normalised latent means."""
        mean, _ = self.autoencoder.encode(wave.to(self.device))
        return ((mean - self.config["latent_mean"]) / self.config["latent_std"]).transpose(1, 2)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """(B, N, latent_dim) normalised latents -> (B, 1, length or N * hop) sound, faded in and out over
        ``fade_seconds``: a sound that stops mid-cycle is a click (and a circular FFT hears one at the start too).
        The first and last latent frames are repeated ``edge_frames`` times outside and cut off after decoding, so
        the edges are decoded as the middle is: Griffin-Lim smeared a click at t = 0 over half a window, and the
        fade took the rest (the round trip kept 50 of 54 bounce clips' clicks; with 1 or more edge frames, 54)."""
        edge = int(self.config.get("edge_frames", _SAMPLING["edge_frames"]))
        length = z.shape[1] * self.autoencoder.config.hop if length is None else length
        if edge:
            z = torch.cat([z[:, :1].expand(-1, edge, -1), z, z[:, -1:].expand(-1, edge, -1)], dim=1)
        z = z.transpose(1, 2) * self.config["latent_std"] + self.config["latent_mean"]
        start = edge * self.autoencoder.config.hop
        wave = self.autoencoder.decode(z)[..., start:start + length]
        ramp = min(int(self.config.get("fade_seconds", 0.0) * self.sample_rate), wave.shape[-1] // 2)
        if ramp:
            up = torch.linspace(0.0, 1.0, ramp, device=wave.device, dtype=wave.dtype)
            wave = wave.clone()
            wave[..., :ramp] *= up
            wave[..., -ramp:] *= up.flip(0)
        return wave

    def video_features(self, frames, fps: float, n: int) -> torch.Tensor:
        """(n, D) features of ``frames`` at the latent rate."""
        return resample(self.features(frames).float(), fps, n, self.latent_rate)

    # -------------------------------------------------------------------------------------------- generation

    @torch.no_grad()
    def generate(self, frames, fps: float, seconds: float, prompt: str = "", seed: int = 0,
                 context: np.ndarray | None = None, steps: int | None = None,
                 guidance: float | None = None) -> np.ndarray:
        """float32 (1, samples) mono sound of ``seconds`` for the video ``frames`` (uint8 (T, H, W, 3)) at ``fps``.
        ``context``: sound (samples,) at ``sample_rate`` to keep as is and continue from."""
        opts = self.settings(steps, guidance)
        sr, rate = self.sample_rate, self.latent_rate
        total = int(round(seconds * sr))
        n = math.ceil(total / self.autoencoder.config.hop)
        window = max(1, int(round(opts["window_seconds"] * rate)))
        overlap = min(int(round(opts["overlap_seconds"] * rate)), window - 1)
        redo = min(int(round(opts["lookahead_seconds"] * rate)), window - 1 - overlap)
        feats = self.video_features(frames, fps, n).to(self.device)
        words = tokenize([prompt or ""], self.dit.config.vocab, self.dit.config.max_words).to(self.device)
        z = torch.zeros(1, n, self.dit.config.latent_dim, device=self.device)
        known = 0
        kept = None
        if context is not None and len(context):
            kept = np.asarray(context, dtype=np.float32)[:total]
            known = min(len(kept) // self.autoencoder.config.hop, n)
            if known:
                wave = torch.from_numpy(kept[: known * self.autoencoder.config.hop])[None, None]
                z[:, :known] = self.encode(wave)
        gen = torch.Generator().manual_seed(int(seed))
        while known < n:
            start = max(0, min(known - overlap, n - window)) if known else 0
            end = min(start + window, n)
            mask = torch.zeros(1, end - start, 1, device=self.device)
            mask[:, : known - start] = 1
            noise = torch.randn(1, end - start, z.shape[-1], generator=gen).to(self.device)
            out = midpoint_sample(self.dit, noise, z[:, start:end], mask, feats[None, start:end], words,
                                  opts["steps"], opts["guidance"], opts["shift"])
            z[:, known:end] = out[:, known - start:]
            known = end if end >= n else end - redo
        wave = self.decode(z, total)[0].float().cpu().numpy()
        if kept is not None:
            wave[0, : len(kept)] = kept  # the kept soundtrack stays exactly as it was
        return np.ascontiguousarray(wave, dtype=np.float32)
