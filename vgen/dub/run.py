"""The ``vgen dub`` stage: videos -> checks (all before anything is written) -> audio model (registry, loaded once)
-> one soundtrack per video -> ``OUT/<name>.mp4`` (video stream copied packet for packet, AAC sound) + sidecar
``OUT/<name>.dub.json`` (model, weights sha256, seed, settings). ``replay(sidecar)`` gives the settings and video back,
so ``--from`` makes the same samples again (same weights and device)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vgen import __version__, console, registry
from vgen.errors import UserError
from vgen.io.atomic import write_text
from vgen.io.digest import sha256

SIDECAR_SUFFIX = ".dub.json"


@dataclass
class DubSettings:
    model: str | None = None  # registered audio model (`vgen plugins`); None: the default one
    weights: Path | None = None  # a model folder; None: the model's shipped weights
    config: str | None = None  # a preset for random weights (tests, new models)
    prompt: str = ""
    seed: int = 0
    steps: int | None = None  # None: the model's default
    guidance: float | None = None
    device: str = "cpu"
    out: Path = field(default_factory=lambda: Path("outputs"))
    replace: bool = False  # a video with sound gets new sound
    extend: bool = False  # a video with sound keeps it and gets the rest

    def sidecar_fields(self) -> dict:
        data = asdict(self)
        data["weights"] = str(self.weights) if self.weights else None
        data.pop("out")
        return data


@dataclass
class Input:
    video: Path
    out: Path
    seconds: float
    has_audio: bool


def model_name(s: DubSettings) -> str:
    if s.model:
        registry.get("audio_model", s.model)  # unknown: one line with the known names
        return s.model
    names = registry.names("audio_model")
    defaults = [n for n in names if registry.get("audio_model", n).meta.get("default")]
    if not (defaults or names):
        raise UserError("no audio model is registered (`vgen plugins`)")
    return (defaults or names)[0]


def check(s: DubSettings, videos: list[Path], in_place: bool = False) -> list[Input]:
    """Every input readable, with a video stream and frames, sound only where --replace or --extend allow it, one
    output per input, an output folder that can be written: all checked before the first file is written."""
    from vgen.io.audio import probe

    if s.replace and s.extend:
        raise UserError("--replace and --extend exclude each other: new sound, or the old sound continued")
    if not 0 <= s.seed < 2**64 or (s.steps is not None and s.steps < 1) or (
            s.guidance is not None and not 0 <= s.guidance <= 1e3):  # issue 32: numbers in range (NaN fails too)
        raise UserError(f"seed must be in [0, 2^64), steps >= 1, guidance finite in [0, 1000]; got seed {s.seed}, "
                        f"steps {s.steps}, guidance {s.guidance}")
    if not videos:
        raise UserError("no video given (vgen dub VIDEO.mp4 ... --out DIR)")
    out_dir = Path(s.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"output folder {out_dir} cannot be made: {exc.strerror or exc}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise UserError(f"output folder {out_dir} is not writable")
    inputs, seen = [], {}
    for video in map(Path, videos):
        info = probe(video)
        if info.has_audio and not (s.replace or s.extend):
            raise UserError(f"{video} already has sound: pass --replace for new sound or --extend to continue it")
        if s.extend and not info.has_audio:
            raise UserError(f"{video} has no sound to --extend")
        out = out_dir / f"{video.stem}.mp4"
        if out.resolve() == video.resolve() and not in_place:
            raise UserError(f"{out} would overwrite its input: choose another --out")
        if out.resolve() in seen:
            raise UserError(f"{video} and {seen[out.resolve()]} would both be written to {out}")
        if out.exists() and out.resolve() != video.resolve() and not out.with_suffix(SIDECAR_SUFFIX).is_file():
            raise UserError(f"{out} exists and vgen dub did not write it: choose another --out")  # issue 32
        seen[out.resolve()] = video
        inputs.append(Input(video, out, info.seconds, info.has_audio))
    return inputs


def load_model(s: DubSettings, name: str):
    backend = registry.get("audio_model", name)
    return backend.factory(weights=s.weights, config=s.config, device=s.device)


def weight_hashes(model) -> dict[str, str]:
    return {Path(f).name: sha256(f) for f in model.weight_files()}


def dub_videos(s: DubSettings, videos: list[Path], as_json: bool = False, in_place: bool = False,
               replayed: dict | None = None) -> list[dict]:
    """Dub every video; returns the sidecars. ``in_place``: a video may be its own output (``vgen sample --dub``)."""
    inputs = check(s, videos, in_place)
    name = model_name(s)
    started = time.perf_counter()
    model = load_model(s, name)
    hashes = weight_hashes(model)
    if replayed is not None and replayed.get("weights_sha256") not in (None, hashes):
        console.warn("the weights differ from the ones the sidecar records: the sound will differ")
    load_s = time.perf_counter() - started
    results = []
    for item in inputs:
        results.append(_dub_one(s, model, name, hashes, item, load_s))
        if as_json:
            console.out.print(json.dumps({"video": str(item.out), "sidecar": results[-1]["sidecar"]}),
                              markup=False, highlight=False)
        else:
            console.info(f"{item.out} ({results[-1]['seconds']:.2f} s of sound, {results[-1]['mode']})")
    return results


def _dub_one(s: DubSettings, model, name: str, hashes: dict, item: Input, load_s: float) -> dict:
    from vgen.io.audio import mono_at, mux_audio
    from vgen.io.video import read_video

    t0 = time.perf_counter()
    clip = read_video(item.video, audio=s.extend)
    context = mono_at(clip.audio, clip.sample_rate, model.sample_rate) if s.extend else None
    seconds = len(clip.frames) / clip.fps
    if context is not None:
        context = context[: int(round(seconds * model.sample_rate))]
    wave = model.generate(clip.frames, clip.fps, seconds, prompt=s.prompt, seed=s.seed, context=context,
                          steps=s.steps, guidance=s.guidance)
    gen_s = time.perf_counter() - t0
    mux_audio(item.video, item.out, wave, model.sample_rate)
    mode = "extend" if s.extend else ("replace" if item.has_audio else "new")
    sidecar_path = item.out.with_name(item.out.stem + SIDECAR_SUFFIX)
    sidecar = {
        "tool": "vgen dub", "vgen_version": __version__, "input": str(item.video), "video": str(item.out),
        "sidecar": str(sidecar_path), **s.sidecar_fields(), "model": name, "weights_sha256": hashes or None,
        "model_settings": model.settings(s.steps, s.guidance), "mode": mode, "seconds": seconds,
        "kept_seconds": (len(context) / model.sample_rate) if context is not None else 0.0,
        "sample_rate": model.sample_rate, "timings": {"load_s": round(load_s, 3), "generate_s": round(gen_s, 3)},
    }
    write_text(sidecar_path, json.dumps(sidecar, indent=2) + "\n")
    return sidecar


def replay(sidecar_path: str | Path, overrides: dict | None = None) -> tuple[DubSettings, list[Path], dict]:
    """Settings and video of a dub sidecar, with ``overrides`` (flags given on this command line) on top."""
    path = Path(sidecar_path)
    if not path.is_file():
        raise UserError(f"sidecar not found: {path}")
    try:
        data = json.loads(path.read_text())
        if data.get("tool") != "vgen dub":
            raise KeyError("tool")
        fields = {k: data[k] for k in ("model", "weights", "config", "prompt", "seed", "steps", "guidance", "device",
                                        "replace", "extend")}
    except (ValueError, KeyError, AttributeError):
        raise UserError(f"{path}: not a vgen dub sidecar") from None
    fields["weights"] = Path(fields["weights"]) if fields["weights"] else None
    fields["out"] = path.parent
    fields.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return DubSettings(**fields), [Path(data["input"])], data
