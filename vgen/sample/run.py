"""The ``vgen sample`` stage: settings -> pipeline (loaded once) -> jobs (one per prompt and seed, batched) -> one MP4
+ sidecar JSON (+ preview) per job. ``replay(sidecar)`` turns a sidecar back into settings and a prompt, so ``--from``
reruns a video bit for bit (same weights, device and dtype). One job loop for a single process and for every rank of
a torchrun launch (``parallel``)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from vgen import __version__, console, registry
from vgen.errors import UserError
from vgen.io.atomic import write_text
from vgen.io.digest import sha256
from vgen.sample.settings import SampleSettings
from vgen.settings import load_section, resolve


@dataclass
class PromptSpec:
    prompt: str
    negative: str | None = None  # None: the settings' negative prompt
    seeds: list[int] | None = None  # None: the settings' seeds
    index: int = 0


@dataclass
class Job:
    """One video: a prompt, a seed and the negative prompt it is sampled with."""

    spec: PromptSpec
    seed: int
    negative: str


def load_settings(recipe: str | None = None, overrides: dict | None = None) -> SampleSettings:
    return load_section("sample", recipe, overrides)


def read_prompts(prompts: list[str], prompts_file: str | Path | None = None) -> list[PromptSpec]:
    """Prompts from the command line, then from a .txt (one a line, # comments) or .jsonl file
    (``{"prompt": ..., "negative": ..., "seed": N or [N, ...]}`` a line)."""
    specs = [PromptSpec(p) for p in prompts]
    if prompts_file:
        path = Path(prompts_file)
        if not path.is_file():
            raise UserError(f"prompts file not found: {path}")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise UserError(f"prompts file {path}: not UTF-8 text (a binary file?)") from None
        if any("\x00" in line for line in lines):
            raise UserError(f"prompts file {path}: not text (it holds NUL bytes)")
        if path.suffix.lower() == ".jsonl":
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{path}:{n}: not valid JSON: {exc.msg}") from None
                if not isinstance(rec, dict) or not isinstance(rec.get("prompt"), str):
                    raise UserError(f"{path}:{n}: each line needs a \"prompt\" string")
                seed = rec.get("seed")
                seeds = None if seed is None else [int(s) for s in (seed if isinstance(seed, list) else [seed])
                                                   if _is_seed(s) or _bad_seed(path, n, s)]
                specs.append(PromptSpec(rec["prompt"], rec.get("negative"), seeds))
        else:
            specs += [PromptSpec(line.strip()) for line in lines if line.strip() and not line.startswith("#")]
    if not specs:
        raise UserError("no prompt given (pass PROMPT..., --prompts FILE or --from VIDEO.json)")
    for i, spec in enumerate(specs):
        if not spec.prompt.strip():
            raise UserError(f"empty prompt (prompt {i + 1})")
        spec.index = i
    return specs


def weight_hashes(pipe, weights: Path | None) -> dict[str, str]:
    """sha256 of each weight file (and safetensors index) the pipeline loaded, by path relative to ``weights``."""
    files = [Path(f) for f in pipe.weight_files()]
    if weights is not None:
        files += sorted(Path(weights).rglob("*.safetensors.index.json"))
    cache_path = _cache_dir() / "sha256.json"
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    out = {}
    for f in dict.fromkeys(files):
        name = str(f.relative_to(weights)) if weights is not None and f.is_relative_to(weights) else str(f)
        out[name] = sha256(f, cache)
    try:
        write_text(cache_path, json.dumps(cache))
    except OSError:
        pass
    return out


def _cache_dir() -> Path:
    from vgen.settings import VgenSettings

    return Path(resolve(VgenSettings).cache_dir).expanduser()


@contextlib.contextmanager
def attention_backend(name: str | None):
    """Use attention backend ``name`` (vgen.nn.attention) for the block; the previous one comes back after."""
    if not name:
        yield
        return
    try:
        from vgen.nn import attention
    except ImportError:
        raise UserError("--attention needs vgen.nn.attention, which this install lacks") from None
    with attention.attention_backend(name):
        yield


def load_pipeline(s: SampleSettings):
    """Build the pipeline once; random weights are built under a fixed seed so reruns see the same model."""
    from vgen.device import pick_device, pick_dtype
    from vgen.pipeline import build

    device = pick_device(s.device)
    dtype = pick_dtype(s.dtype, device)
    pipe = build(s.pipeline, s.weights, s.config, device="cpu" if s.offload else device, dtype=dtype)
    if s.lora is not None:  # merged before any export stands in for the DiT
        from vgen.nn.lora import apply_lora

        if not Path(s.lora).is_file():
            raise UserError(f"LoRA file not found: {s.lora}")
        apply_lora(pipe, s.lora, s.lora_scale)
    if s.engine != "torch" or s.engine_dir is not None:  # exported artifacts stand in for the DiT / VAE decoder
        from vgen.engines.standins import apply_engine

        pipe = apply_engine(pipe, s.engine, s.engine_dir, device=device)
    fast_modes(s, pipe)
    return pipe, device, dtype


def fast_modes(s: SampleSettings, pipe) -> None:
    """--fp8 (the DiT's block Linear layers in FP8, vgen.nn.fp8), then --compile (vgen.compile); --step-cache is
    checked here so a pipeline that cannot split refuses before any step runs."""
    from vgen import compile as compiling

    if s.fp8:
        try:
            from vgen.nn.fp8 import to_fp8
        except ImportError:
            raise UserError("--fp8 needs vgen.nn.fp8, which this install lacks") from None
        if to_fp8(compiling.dit_module(pipe)) == 0:
            console.warn("--fp8: no Linear layer of this DiT can run in FP8 (too small or none in its blocks)")
    if s.compile:
        compiling.compile_dit(pipe)
    if s.step_cache:
        from vgen.flow.stepcache import step_cache

        step_cache(pipe, s.step_cache)


def generate_options(s: SampleSettings) -> dict:
    """The settings that ``vgen.sample.generate`` takes as they are (prompt, negative, seed and placement aside):
    one list for every caller, so a rerun, a parallel rank and a diagnostic sample exactly as vgen sample does."""
    return {"steps": s.steps, "sampler": s.sampler, "schedule": s.schedule, "shift": s.shift, "guidance": s.guidance,
            "embedded_guidance": s.embedded_guidance, "guidance_interval": s.guidance_interval, "frames": s.frames,
            "height": s.height, "width": s.width, "image": s.image, "cfg_batch": s.cfg_batch,
            "vae_tiling": s.vae_tiling, "tile_above": s.tile_above, "step_cache": s.step_cache}


def with_hub_weights(s: SampleSettings) -> SampleSettings:
    """``weights`` given as a Hugging Face hub id (org/name) -> its local snapshot folder (vgen.io.hub)."""
    from vgen.io.hub import resolve_weights

    local = resolve_weights(s.weights)
    return s if local == s.weights else s.model_copy(update={"weights": local})


def with_guidance_scale(s: SampleSettings, pipe, say: bool = True) -> SampleSettings:
    """diffusers' ``guidance_scale`` moved to what it means on ``pipe`` (vgen.flow.names), said once (``say``: by the
    process that writes; every rank of a parallel run moves it alike)."""
    from vgen.flow.names import resolve_guidance_scale

    try:
        options, note = resolve_guidance_scale(pipe, s.model_dump(include={"guidance", "embedded_guidance",
                                                                           "guidance_scale"}))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if note and say:
        console.info(note)
    return s.model_copy(update={**options, "guidance_scale": None})


def _slug(text: str, n: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:n].strip("-") or "video"


def check_names(s: SampleSettings) -> None:
    """Fail fast on names and files before any model loads (every rank of a parallel run refuses alike)."""
    from vgen.flow.schedules import uses_shift

    for kind, name in (("sampler", s.sampler), ("schedule", s.schedule), ("pipeline", s.pipeline)):
        if name is not None:
            registry.get(kind, name)
    if s.shift is not None and s.schedule and not uses_shift(s.schedule):
        console.warn(f"--shift has no effect on the {s.schedule!r} schedule")
    if s.image is not None and not Path(s.image).is_file():
        raise UserError(f"image file not found: {s.image}")
    from vgen.io.outputs import check_writable

    if Path(s.out).exists() and not Path(s.out).is_dir():
        raise UserError(f"--out {s.out} is a file, not a folder")
    check_writable(s.out, "--out")
    modes = [flag for flag, on in (("--compile", s.compile), ("--fp8", s.fp8), ("--step-cache", s.step_cache)) if on]
    if modes and (s.engine != "torch" or s.engine_dir is not None):
        raise UserError(f"{modes[0]} speeds up vgen's own DiT; --engine {s.engine} runs an exported one: drop one")


PARALLEL = ("ulysses", "cfg", "cfg-ulysses")


def _is_seed(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64


def _bad_seed(path, n: int, value) -> bool:
    raise UserError(f"{path}:{n}: seed must be an integer in [0, 2^64), got {value!r}")


def batches(s: SampleSettings, specs: list[PromptSpec]) -> list[list[Job]]:
    """One job per (prompt, seed); consecutive jobs with one negative prompt share a batch of up to batch_size."""
    jobs = [Job(spec, seed, s.negative if spec.negative is None else spec.negative)
            for spec in specs for seed in spec.seeds or s.seed]
    out = []
    for _, same_negative in itertools.groupby(jobs, key=lambda job: job.negative):
        group = list(same_negative)
        out += [group[k:k + s.batch_size] for k in range(0, len(group), s.batch_size)]
    return out


def sample_videos(s: SampleSettings, specs: list[PromptSpec], as_json: bool = False, replayed: dict | None = None,
                  parallel: str | None = None) -> list[dict]:
    """Generate and write every (prompt, seed) video; returns the sidecar dicts.

    ``parallel`` (ulysses | cfg | cfg-ulysses, under torchrun): every rank runs this same job loop on the same
    pipeline, split over the ranks by vgen.distributed.sample; rank 0 writes and returns the sidecars, the other
    ranks return []."""
    check_names(s)
    if parallel is not None and parallel not in PARALLEL:
        raise UserError(f"--parallel {parallel!r}: use one of {', '.join(PARALLEL)}")
    if parallel is not None and s.step_cache:  # each rank would judge its own share of the tokens
        raise UserError("--step-cache does not run under --parallel yet: drop one")
    s = with_hub_weights(s)
    with attention_backend(s.attention), _ranks(s, parallel) as (s, groups):
        return _sample_all(s, specs, as_json, replayed, groups)


@contextlib.contextmanager
def _ranks(s: SampleSettings, parallel: str | None):
    """(settings, process groups) of this process: the settings as they are and None for a single process."""
    if parallel is None:
        yield s, None
        return
    from vgen.distributed.sample import join

    with join(s, parallel) as joined:
        yield joined


def _sample_all(s: SampleSettings, specs: list[PromptSpec], as_json: bool, replayed: dict | None, groups):
    import torch

    from vgen.compile import CompileClock
    from vgen.flow.loop import generate
    from vgen.flow.offload import Placement

    main = groups is None or groups.main  # the process that writes
    t0 = time.perf_counter()
    pipe, device, dtype = load_pipeline(s)
    _check_memory(s, pipe, device)
    s = with_guidance_scale(s, pipe, say=main)
    out = Outputs.of(s, pipe, time.perf_counter() - t0, replayed) if main else None
    placement = Placement(pipe, device, s.offload)
    results, notes = [], Notes(pipe, s.shift is not None)
    try:
        with _split(pipe, groups):
            for batch in batches(s, specs):
                started, compiling = time.perf_counter(), CompileClock()
                res = generate(pipe, [job.spec.prompt for job in batch], negative=batch[0].negative,
                               seed=[job.seed for job in batch], progress=main and not as_json, placement=placement,
                               device=device, dtype=dtype, **generate_options(s))
                _compile_apart(res, compiling.read(), s.compile)
                if main:
                    notes.say(res.info)
                    results += [out.write(job, i, res, len(batch), started, as_json) for i, job in enumerate(batch)]
    finally:
        placement.close()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


def _compile_apart(res, compiled: dict, asked: bool) -> None:
    """Compile time (first calls of a compiled DiT) reported apart from the sampling time it happened in."""
    if asked or compiled["seconds"]:
        res.timings["compile"] = compiled["seconds"]
        res.timings["denoise"] = max(0.0, res.timings["denoise"] - compiled["seconds"])
        res.timings["s_per_step"] = res.timings["denoise"] / res.info["steps"]
        from vgen.compile import cache_dir

        res.info["compile"] = {**compiled, "cache_dir": str(cache_dir())}


@dataclass
class Notes:
    """The derived defaults a run used (shift by step count, a negative prompt that guidance 1 ignores), each said
    once per run."""

    pipe: object
    shift_given: bool
    said: set = field(default_factory=set)

    def say(self, info: dict) -> None:
        from vgen.flow.names import derived_notes

        for note in derived_notes(self.pipe, info, self.shift_given):
            if note not in self.said:
                self.said.add(note)
                console.info(note)


def _check_memory(s: SampleSettings, pipe, device) -> None:
    """Refuse at once a size that cannot fit (vgen.memory), before any step runs."""
    from vgen.memory import check_video_fits

    d = getattr(pipe, "defaults", {}) or {}
    frames, height, width = (s.frames or d.get("frames"), s.height or d.get("height"), s.width or d.get("width"))
    if frames and height and width:
        check_video_fits(pipe, s.batch_size, int(frames), int(height), int(width), device, s.tile_above,
                         s.vae_tiling)


def _split(pipe, groups):
    """The pipeline split over the process groups of a parallel run (nothing to do in a single process)."""
    if groups is None:
        return contextlib.nullcontext()
    from vgen.distributed.sample import parallel_pipeline

    return parallel_pipeline(pipe, groups)


@dataclass
class Outputs:
    """Where and how a run's videos are written, and the provenance every sidecar carries."""

    s: SampleSettings
    fps: float
    load_seconds: float
    hashes: dict[str, str]
    image_hash: str | None
    lora_hash: str | None
    first: int = 0  # numbering continues after what --out already holds: no name is ever reused
    fp8_layers: int | None = None  # Linear layers --fp8 converted

    @classmethod
    def of(cls, s: SampleSettings, pipe, load_seconds: float, replayed: dict | None) -> Outputs:
        hashes = weight_hashes(pipe, Path(s.weights) if s.weights else None)
        if replayed is not None and replayed.get("weight_sha256", {}) != hashes:
            console.warn("the weights differ from the ones the sidecar records: the video will differ")
        from vgen.io.outputs import next_index, remove_stale_temporaries

        remove_stale_temporaries(s.out)  # what a killed run left
        return cls(s, float(s.fps or pipe.defaults.get("fps", 24)), load_seconds, hashes,
                   sha256(Path(s.image)) if s.image else None, sha256(Path(s.lora)) if s.lora else None,
                   next_index(s.out), _fp8_layers(pipe) if s.fp8 else None)

    def write(self, job: Job, i: int, res, batch: int, started: float, as_json: bool) -> dict:
        """Video ``i`` of a batch's result: MP4 (+ preview) and sidecar, and the line that reports it."""
        from vgen.io.video import write_preview, write_video

        s, spec = self.s, job.spec
        from vgen.io.outputs import free_stem

        stem = free_stem(s.out, f"{self.first + spec.index:03d}-{_slug(spec.prompt)}-seed{job.seed}",
                         (".mp4", ".json", ".png"))
        video_path = Path(s.out) / f"{stem}.mp4"
        tw = time.perf_counter()
        write_video(video_path, res.frames[i], self.fps, crf=s.crf)
        preview = write_preview(Path(s.out) / f"{stem}.png", res.frames[i]) if s.preview else None
        # a batch's timings are the whole batch's: per video they are shared
        timings = {"load_pipeline": round(self.load_seconds, 4), **{k: round(v, 4) for k, v in res.timings.items()},
                   "write": round(time.perf_counter() - tw, 4)}
        timings["total"] = round(time.perf_counter() - started, 4)
        sidecar = self.sidecar(job, res.info, batch, video_path, preview, timings)
        write_text(video_path.with_suffix(".json"), json.dumps(sidecar, indent=2, allow_nan=False) + "\n")
        if as_json:
            console.out.print(json.dumps({"video": str(video_path), "sidecar": str(video_path.with_suffix(
                ".json")), "preview": str(preview) if preview else None, "prompt": spec.prompt,
                "seed": job.seed, "seconds": timings["total"]}), markup=False, highlight=False)
        elif console.state.quiet:  # -q: only results, and where each video went is one
            console.out.print(str(video_path), markup=False, highlight=False)
        else:
            console.info(f"wrote {video_path} ({_summary(timings, res.info)})")
        return sidecar

    def sidecar(self, job: Job, info: dict, batch: int, video_path: Path, preview: Path | None,
                timings: dict) -> dict:
        """Everything that made the video; ``settings`` is what ``--from`` reruns it with."""
        s = self.s
        resolved = s.model_dump(mode="json")
        resolved.update(steps=info["steps"], sampler=info["sampler"], schedule=info["schedule"], shift=info["shift"],
                        guidance=info["guidance"], embedded_guidance=info["embedded_guidance"],
                        frames=info["frames"], height=info["height"], width=info["width"], fps=self.fps,
                        seed=[job.seed], negative=job.negative, out=str(Path(s.out)))
        resolved.update({k: _seen_from(resolved[k], video_path.parent) for k in PATH_FIELDS})
        return {
            "vgen_version": __version__, "video": video_path.name, "preview": preview.name if preview else None,
            "index": job.spec.index, "prompt": job.spec.prompt, "negative": job.negative, "seed": job.seed,
            "steps": info["steps"], "sampler": info["sampler"], "schedule": info["schedule"], "shift": info["shift"],
            "guidance": info["guidance"], "embedded_guidance": info["embedded_guidance"],
            "guidance_interval": info["guidance_interval"],
            "size": [info["width"], info["height"]], "height": info["height"], "width": info["width"],
            "frames": info["frames"], "fps": self.fps,
            "pipeline": s.pipeline, "config": s.config, "weights": str(s.weights) if s.weights else None,
            "weight_sha256": self.hashes,
            "lora": str(s.lora) if s.lora else None, "lora_scale": s.lora_scale if s.lora else None,
            "lora_sha256": self.lora_hash, "image": str(s.image) if s.image else None, "image_sha256": self.image_hash,
            "device": info["device"], "dtype": info["dtype"], "offload": s.offload, "attention": s.attention,
            "vae_tiling": info["vae_tiling"], "model_calls": info["model_calls"], "batch": batch,
            "step_cache": info.get("step_cache"), "compile": info.get("compile"), "fp8_layers": self.fp8_layers,
            "timings": timings, "settings": resolved,
        }


def _fp8_layers(pipe) -> int:
    from vgen.compile import dit_module

    return sum(type(m).__name__ == "FP8Linear" for m in dit_module(pipe).modules())


def _summary(timings: dict, info: dict) -> str:
    """The run line's numbers: total and per-step seconds, compile seconds apart, the DiT calls a step cache saved."""
    parts = [f"{timings['total']:.1f} s", f"{timings['s_per_step']:.2f} s/step"]
    if "compile" in timings:
        hits = (info.get("compile") or {}).get("cache_hits", 0)
        parts.append(f"compile {timings['compile']:.1f} s" + (f", {hits} cached graphs" if hits else ""))
    cache = info.get("step_cache")
    if cache:
        parts.append(f"step cache skipped {cache['skipped_calls']} of {cache['full_calls'] + cache['skipped_calls']}"
                     " DiT calls")
    return ", ".join(parts)


PATH_FIELDS = ("weights", "lora", "engine_dir", "image")  # files a sidecar's settings name


def _seen_from(value: str | None, folder: Path) -> str | None:
    """A relative path as seen from ``folder`` (where the sidecar is), so that ``--from`` finds it from any
    working folder; absolute paths stay as they are."""
    if value is None or Path(value).is_absolute():
        return value
    return os.path.relpath(Path(value).resolve(), folder.resolve())


def _from_sidecar(value: str | None, folder: Path) -> str | None:
    """A sidecar's relative path resolved against its folder (a sidecar older than that rule: the working folder)."""
    if value is None or Path(value).is_absolute():
        return value
    there = folder / value
    return str(there) if there.exists() or not Path(value).exists() else value


def replay(sidecar_path: str | Path, overrides: dict | None = None) -> tuple[SampleSettings, list[PromptSpec], dict]:
    """Settings and prompt of a sidecar, with ``overrides`` (flags given on this command line) on top."""
    path = Path(sidecar_path)
    if not path.is_file():
        raise UserError(f"sidecar not found: {path}")
    try:
        data = json.loads(path.read_text())
        stored = dict(data["settings"])
        prompt = data["prompt"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path}: not a vgen sample sidecar") from None
    stored.update({k: _from_sidecar(stored.get(k), path.parent) for k in PATH_FIELDS if k in stored})
    stored.update({k: v for k, v in (overrides or {}).items() if v is not None})
    settings = resolve(SampleSettings, stored, source=str(path))
    return settings, [PromptSpec(prompt, settings.negative, list(settings.seed), int(data.get("index", 0)))], data
