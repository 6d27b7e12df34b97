"""Score a folder of videos against their prompts and summarise (``vgen eval shapes``).

A video's prompt comes from its sidecar (``<video>.json`` or ``<video>.mp4.json`` with a ``"prompt"`` key, as
``vgen sample`` writes) or, for generator clips, from the folder's ``manifest.jsonl`` caption.
"""

from __future__ import annotations

import json
from pathlib import Path

from vgen.errors import UserError

ATTRIBUTES = ("colour", "shape", "size", "motion", "all_correct")
SOUND = ("pitch", "clicks")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm")


def sidecar_prompt(video: Path) -> str | None:
    for side in (video.with_suffix(".json"), video.with_name(video.name + ".json")):
        if side.is_file():
            try:
                data = json.loads(side.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("prompt"), str):
                return data["prompt"]
    return None


def manifest_prompts(folder: Path) -> dict[Path, str]:
    from vgen.io.manifest import iter_manifest

    manifest = folder / "manifest.jsonl"
    if not manifest.is_file():
        return {}
    return {r.resolve(manifest).resolve(): r.caption for r in iter_manifest(manifest) if r.caption}


def collect(folder: str | Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    """(video, prompt) pairs under ``folder`` and the videos that have no prompt."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")
    from_manifest = manifest_prompts(folder)
    pairs, orphans = [], []
    for video in sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()):
        prompt = sidecar_prompt(video) or from_manifest.get(video.resolve())
        (pairs.append((video, prompt)) if prompt else orphans.append(video))
    return pairs, orphans


def score_file(video: Path, prompt: str) -> dict:
    from vgen_plugins.shapes.score import score_video

    from vgen.io.video import read_video

    clip = read_video(video)
    result = score_video(clip.frames, prompt, audio=clip.audio, sample_rate=clip.sample_rate, fps=clip.fps or 8.0)
    result["video"] = str(video)
    return result


def by_group(items: list, n_objects=lambda r: r["n_objects"]) -> dict[str, list]:
    """The reported groups: one-object prompts, two-object prompts, all (``n_objects`` reads an item's count)."""
    return {"1 object": [r for r in items if n_objects(r) == 1],
            "2 objects": [r for r in items if n_objects(r) == 2], "all": list(items)}


def summarise(results: list[dict]) -> dict:
    """Accuracy (fraction) of each attribute for one-object, two-object and all prompts."""
    out = {}
    for name, rows in by_group(results).items():
        entry: dict = {"n": len(rows)}
        for key in ATTRIBUTES:
            entry[key] = sum(bool(r[key]) for r in rows) / len(rows) if rows else None
        sounded = [r for r in rows if "sound" in r]
        if sounded:
            entry["n_sound"] = len(sounded)
            for key in SOUND:
                entry[key] = sum(bool(r["sound"][key]) for r in sounded) / len(sounded)
        out[name] = entry
    return out


def evaluate(folder: str | Path, progress=None) -> dict:
    """Score every video in ``folder``; a video without a prompt is skipped, an unreadable one is a failure."""
    from vgen_plugins.shapes.prompts import is_prompt

    pairs, orphans = collect(folder)
    if not pairs:
        raise UserError(f"no videos with prompts in {folder} (sidecar <video>.json with a 'prompt' key, or a "
                        "manifest.jsonl with captions)")
    bad = [str(v) for v, p in pairs if not is_prompt(p)]
    pairs = [(v, p) for v, p in pairs if is_prompt(p)]
    if not pairs:
        raise UserError(f"no prompt in {folder} follows the shapes-world grammar (e.g. {bad[0]!r})")
    results = []
    for i, (video, prompt) in enumerate(pairs, 1):
        results.append(score_file(video, prompt))
        if progress:
            progress(i, len(pairs))
    return {"folder": str(folder), "summary": summarise(results), "skipped_no_prompt": [str(v) for v in orphans],
            "skipped_not_grammar": bad, "videos": results}
