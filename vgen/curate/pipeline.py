"""One source video through every stage: the unit of work both engines run (a process-pool job or a Ray task).

``process_source`` never raises for a bad input: an unreadable file, a rejected source or a stage crash becomes a
record with a reason, so one input can never stop a run. It returns plain dicts (ClipRecord dumps) for pickling.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import numpy as np

from vgen.curate.clipio import analysis_size, can_stream_copy, iter_frames, reencode_spans, stream_copy, write_thumb
from vgen.curate.stages import ClipContext, Rejected, SourceContext, Span, Stages, build_stages
from vgen.io.manifest import ClipRecord

_stage_cache: dict[str, Stages] = {}


def clip_base(rel: str) -> str:
    """A flat, safe file name stem for the outputs of input ``rel`` (``a/b c.mp4`` -> ``a__b_c``)."""
    stem = rel.rsplit(".", 1)[0] if "." in Path(rel).name else rel
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem.replace("/", "__")) or "video"


def process_source(path: str, rel: str, out_dir: str, settings: dict) -> list[dict]:
    """Curate one input; returns its records (as dicts) in clip order."""
    from vgen.curate.settings import CurateSettings

    key = repr(sorted(settings.items()))
    if key not in _stage_cache:  # workers build the stages once per settings
        _stage_cache.clear()
        _stage_cache[key] = build_stages(CurateSettings(**settings))
    stages = _stage_cache[key]
    s = CurateSettings(**settings)
    src = SourceContext(Path(path), rel, s, Path(out_dir))
    try:
        records = _run(src, stages)
    except Rejected as exc:
        records = [_source_record(src, exc.status, exc.reason, exc.detail)]
    except Exception as exc:  # a bug or an unexpected decoder failure: record it, never stop the run
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        records = [_source_record(src, "error", "internal_error", detail, tb=traceback.format_exc(limit=3))]
    return [r.model_dump(mode="json") for r in records]


def _source_record(src: SourceContext, status: str, reason: str, detail: str, tb: str | None = None) -> ClipRecord:
    info = src.info
    labels = {"input": src.rel, "detail": detail}
    if tb:
        labels["traceback"] = tb
    return ClipRecord(path=str(src.path), source=str(src.path), start=0.0, end=info.get("duration"),
                      fps=info.get("fps", 0.0), width=info.get("width", 0), height=info.get("height", 0),
                      frames=info.get("frames", 0), status=status, reason=reason, labels=labels,
                      audio=info.get("audio", False))


def _run(src: SourceContext, stages: Stages) -> list[ClipRecord]:
    s = src.settings
    for _name, stage in stages.source:
        stage(src)
    if "fps" not in src.info:
        raise Rejected("not_probed", "no source stage filled fps/width/height (put 'probe' first)")
    shots = stages.split(src)
    spans = stages.cut(src, shots)
    base = clip_base(src.rel)
    fps = src.fps
    width, height = analysis_size(src.info["width"], src.info["height"], s.analysis_width)
    records: list[ClipRecord] = []
    pending = iter(sorted(enumerate(spans), key=lambda item: item[1].start))
    current = next(pending, None)
    frames: list[np.ndarray] = []
    times: list[float] = []
    # one pass over the decoded frames; each candidate collects its frames and is processed when complete
    for i, (t, frame) in enumerate(iter_frames(src.path, width, height)):
        while current is not None and i >= current[1].end:
            records.append(_finish(src, stages, base, *current, frames, times))
            frames, times = [], []
            current = next(pending, None)
        if current is None:
            break
        if i >= current[1].start and current[1].reason is None:
            frames.append(frame)
            times.append(t)
    while current is not None:  # candidates past the last decodable frame
        records.append(_finish(src, stages, base, *current, frames, times))
        frames, times = [], []
        current = next(pending, None)
    records = _write_clips(src, stages, records)
    records.sort(key=lambda r: (r.start, r.labels.get("index", 0)))
    if records:  # the source's detected cuts ride on its first record (summary.json and the report list them)
        records[0].labels["source_cuts"] = {"frames": src.info.get("cuts", []),
                                            "seconds": [round(c / fps + src.info.get("start_time", 0.0), 6)
                                                        for c in src.info.get("cuts", [])],
                                            "by_detector": src.info.get("cuts_by_detector", {})}
    return records


def _write_clips(src: SourceContext, stages: Stages, results: list) -> list[ClipRecord]:
    """Write the kept clips (stream copy where the cut points allow, the rest in one re-encode pass), caption them,
    and turn every result into its record."""
    s, info = src.settings, src.info
    for clip in results:
        if isinstance(clip, ClipContext):
            clip.path = src.out_dir / "clips" / f"{clip_base(src.rel)}.{clip.index:03d}.mp4"
    if s.dedup:
        _reject_duplicates(src, results, s.dedup_max_distance)
    results = [_record(src, c) if isinstance(c, ClipContext) and c.reason else c for c in results]
    kept = [c for c in results if isinstance(c, ClipContext)]
    encode = []
    for clip in kept:
        if s.stream_copy and can_stream_copy(info, clip.start, clip.end):
            stream_copy(src.path, clip.path, clip.start, clip.end)
            clip.labels["cut"] = "copy"
        else:
            encode.append(clip)
            clip.labels["cut"] = "reencode"
    jobs = [(c.span.start, c.span.end, c.path) for c in encode]
    reencode_spans(src.path, jobs, s.crf, s.preset)
    for clip in kept:
        _caption(clip, stages)
    return [_record(src, c) if isinstance(c, ClipContext) else c for c in results]


def _reject_duplicates(src: SourceContext, results: list, max_distance: int) -> None:
    """Within one source, before anything is encoded: a kept clip whose pHash is within ``max_distance`` bits of an
    earlier kept clip's is rejected as ``duplicate`` (across sources, ``vgen.curate.run`` decides at assembly)."""
    seen: list[ClipContext] = []
    for clip in results:
        h = clip.labels.get("phash") if isinstance(clip, ClipContext) else None
        if not isinstance(h, str) or clip.reason:
            continue
        dists = [(int(h, 16) ^ int(c.labels["phash"], 16)).bit_count() for c in seen]
        if dists and min(dists) <= max_distance:
            j = dists.index(min(dists))
            clip.reject("duplicate")
            clip.labels["duplicate_of"] = seen[j].path.relative_to(src.out_dir).as_posix()
            clip.scores["duplicate_distance"] = float(dists[j])
        else:
            seen.append(clip)


def _finish(src: SourceContext, stages: Stages, base: str, index: int, span: Span, frames: list, times: list):
    s, info = src.settings, src.info
    fps = info["fps"]
    if span.reason is not None or len(frames) < span.end - span.start:
        reason = span.reason or "corrupt"
        start = span.start / fps + info.get("start_time", 0.0)
        return ClipRecord(path=str(src.path), source=str(src.path), start=round(start, 6),
                          end=round(start + (span.end - span.start) / fps, 6), fps=fps, width=info["width"],
                          height=info["height"], frames=span.end - span.start, status="rejected", reason=reason,
                          labels={"input": src.rel, "index": index, "shot": span.shot, "reasons": [reason],
                                  **({"detail": f"decoded {len(frames)} frames"} if reason == "corrupt" else {})},
                          audio=info.get("audio", False))
    clip = ClipContext(src, index, span, np.stack(frames), np.asarray(times, dtype=np.float64))
    for _name, stage in stages.clip:
        stage(clip)
    name = f"{base}.{index:03d}"
    thumb = Path("thumbs") / f"{name}.jpg"
    write_thumb(src.out_dir / thumb, clip.frames[len(clip.frames) // 2], s.thumb_width)
    clip.labels = {"input": src.rel, "index": index, "shot": span.shot, "thumb": thumb.as_posix(), **clip.labels}
    if info.get("misnamed"):
        clip.labels["misnamed"] = f"{info['container']} data in a {src.path.suffix} file"
    if clip.reason is None:  # written, captioned and recorded after the analysis pass; keep a few frames for VLMs
        clip.frames = clip.frames[np.linspace(0, len(clip.frames) - 1, min(16, len(clip.frames))).round().astype(int)]
        return clip
    return _record(src, clip)


def _record(src: SourceContext, clip: ClipContext) -> ClipRecord:
    info = src.info
    kept = clip.reason is None
    path = clip.path.relative_to(src.out_dir).as_posix() if kept else str(src.path)
    if not kept:
        clip.labels["reasons"] = list(clip.reasons or [clip.reason])
    caption = clip.captions.get("_final")
    captions = {k: v for k, v in clip.captions.items() if k != "_final"}
    return ClipRecord(path=path, source=str(src.path), start=round(clip.start, 6), end=round(clip.end, 6),
                      fps=info["fps"], width=info["width"], height=info["height"], frames=clip.span.end - clip.span.start,
                      caption=caption, captions=captions, scores=clip.scores, labels=clip.labels,
                      status="kept" if kept else "rejected", reason=clip.reason, audio=info.get("audio", False))


def _caption(clip: ClipContext, stages: Stages) -> None:
    final = None
    for name, captioner in stages.caption:
        text = captioner(clip)
        if text:
            clip.captions[name] = text
            final = final or text
    motion = clip.labels.get("camera_motion")
    if final and motion and clip.settings.camera_prefix and not final.lower().startswith(motion):
        final = f"{motion}. {final}"  # MovieGen: camera-motion label first
    if final:
        clip.captions["_final"] = final
