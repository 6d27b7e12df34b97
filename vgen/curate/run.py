"""``vgen curate``: find the inputs, run the pending ones on an engine, then assemble the outputs.

Resumability: every finished input's records are written atomically to ``OUT/.curate/done/<key>.jsonl`` the moment
its job returns (``key`` covers the input's path, size, mtime and the curate settings). A rerun skips inputs that have
one; a crash or Ctrl-C loses at most the inputs in flight. The manifest, bucket summary and report are rebuilt from
the done files in input order, so an interrupted-then-resumed run ends with the same manifest as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from vgen import console
from vgen.errors import UserError
from vgen.io.manifest import ClipRecord, iter_manifest, write_manifest


@dataclass
class Input:
    path: Path
    rel: str
    key: str


@dataclass
class Result:
    records: list[ClipRecord]
    inputs: int = 0
    processed: int = 0  # inputs run this time (the rest were finished before)
    failed: int = 0  # jobs that died (worker crash); recorded as errors, retried by the next run
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # files of the input folder that are not videos
    out_dir: Path | None = None
    summary: dict = field(default_factory=dict)


def settings_key(settings) -> str:
    """Hash of everything that changes results (not how they are computed: workers, engine)."""
    data = settings.model_dump(mode="json", exclude={"workers", "engine", "ray_address"})
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def discover(input_dir: Path, out_dir: Path, settings) -> tuple[list[Input], list[str]]:
    """The videos under ``input_dir`` (sorted; hidden files, caption sidecars and the output folder left out), and
    the other files, skipped. A video is a file with one of ``extensions``, or one whose first bytes are a video
    container's (a clip with an unusual extension)."""
    from vgen.curate.clipio import looks_like_video

    if not input_dir.is_dir():
        raise UserError(f"input folder not found: {input_dir}")
    skey = settings_key(settings)
    out_resolved = out_dir.resolve()
    files, skipped = [], []
    extensions = {e.lower() for e in settings.extensions}
    for root, dirs, names in os.walk(input_dir):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (root_path / d).resolve() != out_resolved)
        for name in sorted(names):
            path = root_path / name
            if name.startswith(".") or _is_sidecar(path, settings):
                continue
            if path.suffix.lower() in extensions or looks_like_video(path):
                files.append(path)
            else:
                skipped.append(path.relative_to(input_dir).as_posix())
    inputs = []
    for path in sorted(files):
        rel = path.relative_to(input_dir).as_posix()
        st = path.stat()
        key = hashlib.sha1(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{skey}".encode()).hexdigest()[:20]
        inputs.append(Input(path.resolve(), rel, key))
    return inputs, sorted(skipped)


def remove_stale_temporaries(out_dir: Path) -> int:
    """Delete the temporary files (``.NAME.tmp*``) a killed run left in the output folders; returns how many."""
    n = 0
    for folder in (out_dir, out_dir / "clips", out_dir / "thumbs", out_dir / ".curate" / "done"):
        if folder.is_dir():
            for path in folder.glob(".*.tmp*"):
                path.unlink(missing_ok=True)
                n += 1
    return n


def _is_sidecar(path: Path, settings) -> bool:
    """A caption file next to a video of the same stem (``a.txt`` beside ``a.mp4``)."""
    if path.suffix.lower() not in settings.sidecar_suffixes:
        return False
    return any(path.with_suffix(ext).is_file() for ext in settings.extensions)


def claim_output(input_dir: Path, out_dir: Path, overwrite: bool = False) -> None:
    """The one rule for outputs (vgen.io.outputs): never the input folder itself nor a folder holding it; an
    occupied folder only when an earlier curate wrote it (resume) or with ``overwrite``."""
    from vgen.io import outputs

    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out is a file, not a folder: {out_dir}")
    if not input_dir.is_dir():
        raise UserError(f"input folder not found: {input_dir}")
    i, o = input_dir.resolve(), out_dir.resolve()
    if o == i or i.is_relative_to(o):
        raise UserError(f"--out {out_dir} overlaps the input folder {input_dir}: write the output elsewhere "
                        "(a new folder, or one inside the input)")
    if (out_dir / ".curate").is_dir() and outputs.marker_command(out_dir) is None:
        outputs.mark(out_dir, "curate")  # an earlier curate's output from before markers
    outputs.claim_dir(out_dir, "curate", overwrite=overwrite, create=False)


def curate(input_dir: str | Path, out_dir: str | Path, settings, overwrite: bool = False) -> Result:
    """Run the curation; returns the final records. Interrupts propagate after the outputs of finished work are
    written."""
    from vgen.curate.engines import run_engine
    from vgen.io.outputs import claim_dir

    t0 = time.time()
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    claim_output(input_dir, out_dir, overwrite)
    inputs, skipped = discover(input_dir, out_dir, settings)
    from vgen.curate.stages import build_stages

    build_stages(settings)  # unknown stage names and bad orders fail here, before any work
    claim_dir(out_dir, "curate", overwrite=True)  # checked above: create and mark it
    done_dir = out_dir / ".curate" / "done"
    done_dir.mkdir(parents=True, exist_ok=True)
    if stale := remove_stale_temporaries(out_dir):
        console.info(f"curate: removed {stale} temporary file{'s' if stale > 1 else ''} of an interrupted run")
    pending = [i for i in inputs if not (done_dir / f"{i.key}.jsonl").is_file()]
    console.info(f"curate: {len(inputs)} inputs, {len(inputs) - len(pending)} already done, {len(pending)} to run "
                 f"({settings.engine} engine, {settings.workers} worker{'s' if settings.workers > 1 else ''})")
    failures: dict[str, str] = {}

    def on_done(item: Input, records: list[dict] | None, error: str | None) -> None:
        if records is None:
            failures[item.key] = error or "worker failed"
            console.warn(f"{item.rel}: job failed: {error}")
            return
        recs = [ClipRecord.model_validate(r) for r in records]
        write_manifest(done_dir / f"{item.key}.jsonl", recs)
        kept = sum(r.status == "kept" for r in recs)
        console.info(f"  {item.rel}: {kept} kept / {len(recs)} records")

    interrupted: BaseException | None = None
    try:
        run_engine(pending, out_dir, settings, on_done)
    except KeyboardInterrupt as exc:
        interrupted = exc
        console.warn("interrupted: writing the outputs of the finished inputs; rerun the same command to resume")
    result = assemble(inputs, out_dir, settings, failures, skipped)
    result.processed = len(pending)
    result.seconds = time.time() - t0
    if interrupted is not None:
        raise interrupted
    return result


def assemble(inputs: list[Input], out_dir: Path, settings, failures: dict[str, str] | None = None,
             skipped: list[str] | None = None) -> Result:
    """Manifest (input order, near-duplicates resolved), bucket summary and report from the done files."""
    from vgen.curate.report import bucket_summary, write_report

    failures = failures or {}
    done_dir = out_dir / ".curate" / "done"
    records: list[ClipRecord] = []
    finished = 0
    for item in inputs:
        done = done_dir / f"{item.key}.jsonl"
        if done.is_file():
            records.extend(iter_manifest(done))
            finished += 1
        elif item.key in failures:
            records.append(ClipRecord(path=str(item.path), source=str(item.path), fps=0.0, width=0, height=0,
                                      frames=0, status="error", reason="worker_failed",
                                      labels={"input": item.rel, "detail": failures[item.key]}))
    if settings.dedup:
        mark_duplicates(records, settings.dedup_max_distance, out_dir)
    buckets = bucket_summary(records, settings)
    write_manifest(out_dir / "manifest.jsonl", records)
    from vgen.io.atomic import write_text
    from vgen.io.manifest import summary

    summ = summary(records)
    summ.update(inputs=len(inputs), finished_inputs=finished, buckets=buckets, all_reasons=all_reasons(records),
                cuts=source_cuts(records), skipped=skipped or [])
    write_text(out_dir / "summary.json", json.dumps(summ, indent=2) + "\n")
    write_report(out_dir / "report.html", records, summ, settings)
    return Result(records, inputs=len(inputs), failed=len(failures), skipped=skipped or [], out_dir=out_dir,
                  summary=summ)


def all_reasons(records: list[ClipRecord]) -> dict[str, int]:
    """How many rejected clips failed each check (a clip failing three checks counts three times)."""
    counts: dict[str, int] = {}
    for r in records:
        if r.status == "rejected":
            for reason in r.labels.get("reasons") or [r.reason]:
                counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def source_cuts(records: list[ClipRecord]) -> dict[str, dict]:
    """Each source's detected cuts (frames, seconds, and per detector when several ran), by input."""
    return {r.labels["input"]: r.labels["source_cuts"] for r in records if isinstance(r.labels.get("source_cuts"), dict)}


def mark_duplicates(records: list[ClipRecord], max_distance: int, out_dir: Path | None = None) -> None:
    """Reject a kept clip whose pHash is within ``max_distance`` bits of an earlier kept clip's (input order).

    Duplicates within a source are rejected before encoding (vgen.curate.pipeline); this decides across sources,
    whose workers run apart, and removes the rejected clip's file so clips/ holds kept clips only."""
    import numpy as np

    seen: list[int] = []
    seen_paths: list[str] = []
    for r in records:
        h = r.labels.get("phash")
        if r.status != "kept" or not isinstance(h, str):
            continue
        value = int(h, 16)
        if seen:
            xor = np.bitwise_xor(np.array(seen, dtype=np.uint64), np.uint64(value))
            dist = np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(1)
            j = int(dist.argmin())
            if dist[j] <= max_distance:
                if out_dir is not None and not Path(r.path).is_absolute():
                    (out_dir / r.path).unlink(missing_ok=True)
                r.status, r.reason = "rejected", "duplicate"
                r.labels["reasons"] = ["duplicate"]
                r.labels["duplicate_of"] = seen_paths[j]
                r.scores["duplicate_distance"] = float(dist[j])
                r.path = r.source or r.path
                continue
        seen.append(value)
        seen_paths.append(r.path)
