"""Score edited videos against their edit pairs (``vgen eval edits``), by method and kind of edit.

- success: the edited video satisfies the pair's target caption: every object right (colour, shape, size, motion),
  no other object, and the right background;
- preserved (among successes): each object the edit must leave alone (the pair's ``kept``) has its bounding-box
  centre track within ``PRESERVE_PX`` px of the source's, mean over the frames both show it in.

Edited videos are found by their sidecars (``vgen edit`` writes ``"source"`` and ``"method"``), the pair by the source
video's path in the cases folder (``vgen datasets shapes-edits``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vgen.errors import UserError

PRESERVE_PX = 2.5


def object_tracks(frames: np.ndarray, prompt: str) -> list:
    """The track matched to each object ``prompt`` names, in its order (None: not found)."""
    from vgen_plugins.shapes.prompts import parse_prompt
    from vgen_plugins.shapes.score import SIZES, build_tracks, estimate_background, find_components, match

    t, h, w, _ = frames.shape
    canvas = (h + w) / 2
    min_area = max(4, int(0.125 * (SIZES["small"] * canvas) ** 2))  # as score_video
    tracks = build_tracks(find_components(frames, estimate_background(frames), min_area), h, w)
    return match(parse_prompt(prompt).objects, tracks)


def _centres(track) -> dict[int, np.ndarray]:
    return {c.frame: np.array([(c.box[0] + c.box[2]) / 2, (c.box[1] + c.box[3]) / 2]) for c in track.components}


def track_distance(a, b, frames: int) -> float:
    """Mean distance (px) between two tracks' box centres over the frames both are in; inf when either is missing
    or they share under half the frames."""
    if a is None or b is None:
        return float("inf")
    ca, cb = _centres(a), _centres(b)
    common = sorted(set(ca) & set(cb))
    if len(common) * 2 < frames:
        return float("inf")
    return float(np.mean([np.linalg.norm(ca[f] - cb[f]) for f in common]))


def score_edit(edited: np.ndarray, source: np.ndarray, labels: dict) -> dict:
    """Success and preservation of one edit (``labels``: the pair's manifest labels)."""
    from vgen_plugins.shapes.score import score_video

    res = score_video(edited, labels["target_caption"])
    success = bool(res["all_correct"] and res["background_ok"])
    before = object_tracks(source, labels["source_caption"])
    after = object_tracks(edited, labels["target_caption"])
    distances = [track_distance(before[i], after[j], len(edited)) for i, j in labels["kept"]]
    return {"kind": labels["kind"], "instruction": labels["instruction"], "target": labels["target_caption"],
            "success": success, "preserved": bool(all(d <= PRESERVE_PX for d in distances)),
            "distances": [round(d, 3) if np.isfinite(d) else None for d in distances],
            "found": res["found"], "background": res["background"]}


def read_cases(folder: Path) -> dict[Path, dict]:
    """Pair labels by the resolved path of the source video."""
    from vgen.io.manifest import iter_manifest

    manifest = folder / "manifest.jsonl"
    if not manifest.is_file():
        raise UserError(f"no manifest.jsonl in {folder} (write the cases with `vgen datasets shapes-edits`)")
    cases = {}
    for rec in iter_manifest(manifest):
        if rec.labels.get("dataset") == "shapes-edits":
            cases[(folder / rec.labels["source"]).resolve()] = dict(rec.labels)
    if not cases:
        raise UserError(f"{manifest}: no shapes-edits pairs")
    return cases


def _sidecars(folder: Path) -> list[tuple[Path, dict]]:
    out = []
    for side in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(side.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "method" in data and "source" in data and "video" in data:
            out.append((side, data))
    return out


def evaluate_edits(folders: list[Path], cases_folder: Path, progress=None) -> dict:
    """Score every edit in ``folders`` that belongs to a pair of ``cases_folder``; summary by method and kind."""
    from vgen.io.video import read_video

    cases = read_cases(Path(cases_folder))
    found = [(side, data) for folder in folders for side, data in _sidecars(Path(folder))]
    rows, foreign = [], []
    for n, (side, data) in enumerate(found, 1):
        source = Path(data["source"]).resolve()
        if source not in cases:
            foreign.append(str(side))
            continue
        row = score_edit(read_video(side.parent / data["video"], audio=False).frames,
                         read_video(source, audio=False).frames, cases[source])
        rows.append({**row, "method": data["method"], "video": str(side.parent / data["video"]),
                     "seconds": (data.get("timings") or {}).get("edit")})
        if progress:
            progress(n, len(found))
    if not rows:
        raise UserError(f"no edit in {', '.join(map(str, folders))} has a source among the cases of {cases_folder}")
    return {"cases": str(cases_folder), "summary": summarise(rows), "not_cases": foreign, "edits": rows}


def summarise(rows: list[dict]) -> dict:
    """method -> kind (and "all") -> n, success, preserved (fraction of successes), seconds per edit."""
    out: dict = {}
    for method in sorted({r["method"] for r in rows}):
        mine = [r for r in rows if r["method"] == method]
        kinds = {}
        for kind in [*sorted({r["kind"] for r in mine}), "all"]:
            group = [r for r in mine if kind in ("all", r["kind"])]
            ok = [r for r in group if r["success"]]
            secs = [r["seconds"] for r in group if r["seconds"] is not None]
            kinds[kind] = {"n": len(group), "success": len(ok) / len(group),
                           "preserved": sum(r["preserved"] for r in ok) / len(ok) if ok else None,
                           "seconds": float(np.mean(secs)) if secs else None}
        out[method] = kinds
    return out
