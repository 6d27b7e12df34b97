"""``vgen edit``: pick the editor, load its pipeline once, then per job read -> encode -> edit -> decode -> write.

Each edit writes ``<index>-<source stem>-<method>-seed<seed>.mp4`` and a sidecar JSON beside it with everything that
made it: the source's path and sha256, the instruction or prompts, the method, the seed, the settings the editor
resolved, the weights' hashes. ``replay`` reads a sidecar back into settings and a job: ``--from`` reruns the edit
bit for bit (same weights, device and dtype).

Sizes: a source the pipeline cannot take (frames not 4k+1, sides not multiples of its size unit; a trained editor's
own size) is refused with one line, not resized: a resized clip is another video, and the edit should say so.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from vgen import __version__, console, registry
from vgen.edit.settings import EditJob, EditSettings, make_settings
from vgen.errors import UserError
from vgen.io.atomic import write_text
from vgen.io.digest import sha256

DEFAULT_PIPELINE = "shapes"
DEFAULT_PROMPT_METHOD = "flowedit"


def _names(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


def pick_editor(s: EditSettings, jobs: list[EditJob]):
    """(editor backend, pipeline name): ``--method``, else the editor that is the default for the pipeline's
    instructions, else flowedit for prompts."""
    instructed = any(j.instruction for j in jobs)
    prompted = any(j.source_prompt or j.target_prompt for j in jobs)
    if instructed and prompted:
        raise UserError("give an INSTRUCTION or --source-prompt/--target-prompt, not both")
    if not instructed and not prompted:
        raise UserError("nothing to change: give an INSTRUCTION, or --source-prompt and --target-prompt")
    wanted = s.pipeline or DEFAULT_PIPELINE
    if s.method:
        backend = registry.get("editor", s.method)
    elif instructed:
        found = [b for b in registry.backends()["editor"].values()
                 if wanted in _names(b.meta.get("default_for")) or b.meta.get("pipeline") == wanted]
        if not found:
            raise UserError(f"no editor takes instructions for pipeline {wanted!r}; edit it with --source-prompt "
                            f"and --target-prompt (--method {' | '.join(registry.names('editor'))})")
        backend = found[0]
    else:
        backend = registry.get("editor", DEFAULT_PROMPT_METHOD)
    own = backend.meta.get("pipeline")
    if own and s.pipeline and s.pipeline != own and s.pipeline not in _names(backend.meta.get("default_for")):
        raise UserError(f"editor {backend.name!r} runs on pipeline {own!r}, not {s.pipeline!r}")
    return backend, own or wanted


def load_pipeline(s: EditSettings, name: str):
    """The pipeline, built once; random weights under a fixed seed so reruns see the same model."""
    from vgen.device import pick_device, pick_dtype
    from vgen.pipeline import build

    device = pick_device(s.device)
    dtype = pick_dtype(s.dtype, device)
    return build(name, s.weights, s.config, device=device, dtype=dtype), device, dtype


def read_source(path: Path, pipe):
    """(uint8 frames (T, H, W, 3), fps) of the source; a size the pipeline cannot take is refused."""
    from vgen.flow.loop import check_video_size
    from vgen.io.video import read_video

    clip = read_video(path, audio=False)
    t, h, w, _ = clip.frames.shape
    try:
        check_video_size(pipe, t, h, w)
    except UserError as exc:
        raise UserError(f"{path}: {w}x{h}, {t} frames: {exc} (refused, not resized)") from None
    return clip.frames, clip.fps or float(pipe.defaults.get("fps", 8))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower())[:40].strip("-") or "video"


def edit_videos(s: EditSettings, jobs: list[EditJob], as_json: bool = False, replayed: dict | None = None
                ) -> list[dict]:
    """Edit every job's video with one editor and one loaded pipeline; returns the sidecars written."""
    import torch

    backend, pipeline = pick_editor(s, jobs)
    editor = backend.factory()
    kind = "instruction" if any(j.instruction for j in jobs) else "prompts"
    if editor.takes != kind:
        raise UserError(f"editor {backend.name!r} takes {editor.takes}, not "
                        f"{'an instruction' if kind == 'instruction' else 'source and target prompts'}")
    for job in jobs:  # a missing file fails before the model loads
        if not Path(job.video).is_file():
            raise UserError(f"video file not found: {job.video}")
    t0 = time.perf_counter()
    pipe, device, dtype = load_pipeline(s, pipeline)
    writer = Writer(s, backend.name, pipeline, pipe, time.perf_counter() - t0, device, dtype)
    if replayed is not None and replayed.get("weight_sha256", {}) != writer.hashes:
        console.warn("the weights differ from the ones the sidecar records: the edit will differ")
    results = []
    for job in jobs:
        started = time.perf_counter()
        frames, fps = read_source(Path(job.video), pipe)
        with torch.no_grad():
            video = torch.from_numpy(frames).to(device=device, dtype=dtype).permute(3, 0, 1, 2)[None] / 127.5 - 1
            latents = pipe.encode_video(video)
            request = _request(s, job)
            edited, info = editor.edit(pipe, latents, request, torch.Generator().manual_seed(s.seed))
            out = pipe.decode(edited.to(dtype)).float().clamp(0, 1)[0].permute(1, 2, 3, 0).cpu()
        results.append(writer.write(job, request, info, out, fps, time.perf_counter() - started, as_json))
    return results


def _request(s: EditSettings, job: EditJob):
    from vgen.contract.edit import EditRequest

    return EditRequest(source_prompt=job.source_prompt, target_prompt=job.target_prompt, instruction=job.instruction,
                       strength=s.strength, steps=s.steps, guidance=s.guidance)


class Writer:
    """Writes each edit's MP4 and sidecar with the run's provenance."""

    def __init__(self, s: EditSettings, method: str, pipeline: str, pipe, load_seconds: float, device, dtype):
        self.s, self.method, self.pipeline, self.load_seconds = s, method, pipeline, load_seconds
        self.hashes = {str(f): sha256(Path(f)) for f in pipe.weight_files()}
        self.device, self.dtype = str(device), str(dtype)

    def write(self, job: EditJob, request, info: dict, frames, fps: float, seconds: float, as_json: bool) -> dict:
        from vgen.io.video import write_video

        s = self.s
        source = Path(job.video)
        stem = f"{job.index:03d}-{_slug(source.stem)}-{self.method}-seed{s.seed}"
        path = Path(s.out) / f"{stem}.mp4"
        write_video(path, frames, fps, crf=s.crf)
        sidecar = {
            "vgen_version": __version__, "video": path.name, "source": str(source),
            "source_sha256": sha256(source), "method": self.method, "instruction": job.instruction,
            "source_prompt": job.source_prompt, "target_prompt": job.target_prompt,
            "prompt": job.target_prompt,  # what the edited video should show, where it is known (vgen eval shapes)
            "seed": s.seed, "edit": info, "pipeline": self.pipeline, "weights": str(s.weights) if s.weights else None,
            "weight_sha256": self.hashes, "device": self.device, "dtype": self.dtype.replace("torch.", ""),
            "fps": fps, "timings": {"load_pipeline": round(self.load_seconds, 4), "edit": round(seconds, 4)},
            "index": job.index, "settings": s.model_dump(mode="json"),
        }
        write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
        if as_json:
            console.out.print(json.dumps({"video": str(path), "sidecar": str(path.with_suffix(".json")),
                                          "method": self.method, "seconds": round(seconds, 3)}),
                              markup=False, highlight=False)
        else:
            console.info(f"wrote {path} ({seconds:.1f} s)")
        return sidecar


def read_jobs(path: Path) -> list[EditJob]:
    """Jobs of a .jsonl file: ``{"video": ..., "instruction": ...}`` or ``{"video", "source_prompt",
    "target_prompt"}`` a line; a relative video path is relative to the file's folder."""
    if not path.is_file():
        raise UserError(f"jobs file not found: {path}")
    jobs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            video = Path(rec["video"])
            jobs.append(EditJob(**{**rec, "video": video if video.is_absolute() else path.parent / video,
                                   "index": len(jobs)}))
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}:{n}: not an edit job ({type(exc).__name__}): want "
                            '{"video": ..., "instruction": ...} or source_prompt/target_prompt') from None
    if not jobs:
        raise UserError(f"{path}: no jobs")
    return jobs


def replay(sidecar_path: Path, overrides: dict | None = None) -> tuple[EditSettings, list[EditJob], dict]:
    """Settings and job of an edit's sidecar (``overrides``: flags given on this command line, e.g. --out)."""
    path = Path(sidecar_path)
    if not path.is_file():
        raise UserError(f"sidecar not found: {path}")
    try:
        data = json.loads(path.read_text())
        stored = {**data["settings"], **{k: v for k, v in (overrides or {}).items() if v is not None}}
        settings = make_settings(stored, f"{path}: setting ")
        job = EditJob(video=data["source"], instruction=data["instruction"], source_prompt=data["source_prompt"],
                      target_prompt=data["target_prompt"], index=int(data.get("index", 0)))
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path}: not a vgen edit sidecar") from None
    if not job.video.is_file():
        raise UserError(f"{path}: its source video is gone: {job.video}")
    if sha256(job.video) != data.get("source_sha256"):
        console.warn(f"{job.video} is not the source the sidecar records (sha256 differs): the edit will differ")
    return settings, [job], data
