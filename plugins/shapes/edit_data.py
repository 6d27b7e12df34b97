"""Write edit pairs as a data set (``vgen datasets shapes-edits``): ``pairs/NNNNNNN-source.mp4`` and
``pairs/NNNNNNN-target.mp4`` per pair, a ``manifest.jsonl`` whose clips are the targets (caption: the instruction;
labels: kind, source clip, both captions and scenes, the objects that must stay), and two job files for
``vgen edit --jobs``: ``instruction_jobs.jsonl`` (source + instruction) and ``prompt_jobs.jsonl`` (source + source and
target captions, for FlowEdit / SDEdit on the same cases)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from vgen.errors import UserError
from vgen.io.atomic import write_text

MANIFEST = "manifest.jsonl"


def pair_record(index: int, seed: int, fps: float, size: int, frames: int, pair) -> dict:
    from vgen.io.manifest import ClipRecord

    source_caption, target_caption = pair.captions()
    labels = {"dataset": "shapes-edits", "index": index, "seed": seed, "kind": pair.kind,
              "instruction": pair.instruction, "source": f"pairs/{index:07d}-source.mp4",
              "source_caption": source_caption, "target_caption": target_caption,
              "kept": [list(k) for k in pair.kept], "source_labels": pair.source.to_labels(),
              "target_labels": pair.target.to_labels()}
    return ClipRecord(path=f"pairs/{index:07d}-target.mp4", fps=fps, width=size, height=size, frames=frames,
                      end=frames / fps, caption=pair.instruction, captions={"target": target_caption},
                      labels=labels).model_dump(exclude_defaults=True)


def write_pairs(out: str | Path, num: int, seed: int = 0, size: int = 64, frames: int = 17, fps: float = 8.0,
                kind: str | None = None, progress=None) -> dict:
    """Pairs ``0 .. num-1`` of ``seed`` into ``out`` (the folder must not hold another data set)."""
    from vgen_plugins.shapes.edit_pairs import make_pair
    from vgen_plugins.shapes.world import render

    from vgen.io.outputs import claim_dir
    from vgen.io.video import write_video

    out = Path(out)
    if (out / MANIFEST).exists():
        raise UserError(f"{out} holds a manifest already; use another --out")
    if num < 1:
        raise UserError(f"--num must be >= 1, got {num}")
    claim_dir(out, "datasets shapes-edits")  # a new or empty folder (vgen.io.outputs): never into the user's files
    start = time.perf_counter()
    records, instruction_jobs, prompt_jobs = [], [], []
    for i in range(num):
        try:
            pair = make_pair(seed, i, kind, canvas=size, frames=frames, fps=fps)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        rec = pair_record(i, seed, fps, size, frames, pair)
        write_video(out / rec["labels"]["source"], render(pair.source), fps)
        write_video(out / rec["path"], render(pair.target), fps)
        records.append(rec)
        instruction_jobs.append({"video": rec["labels"]["source"], "instruction": pair.instruction})
        prompt_jobs.append({"video": rec["labels"]["source"], "source_prompt": rec["labels"]["source_caption"],
                            "target_prompt": rec["labels"]["target_caption"]})
        if progress:
            progress(i + 1, num)
    for name, rows in ((MANIFEST, records), ("instruction_jobs.jsonl", instruction_jobs),
                       ("prompt_jobs.jsonl", prompt_jobs)):
        write_text(out / name, "".join(json.dumps(r) + "\n" for r in rows))
    return {"written": num, "seconds": time.perf_counter() - start, "manifest": str(out / MANIFEST)}
