"""Bucket summary (resolution x duration) and a self-contained HTML report: counts, reasons, buckets, one inline-SVG
histogram per score (kept vs rejected), and thumbnails of kept and rejected clips."""

from __future__ import annotations

import html
import math

import numpy as np

from vgen.io.atomic import write_text
from vgen.io.manifest import ClipRecord

HEIGHTS = (144, 240, 360, 480, 540, 720, 1080, 1440, 2160)
ASPECTS = {"9:16": 9 / 16, "3:4": 3 / 4, "1:1": 1.0, "4:3": 4 / 3, "3:2": 3 / 2, "16:9": 16 / 9, "21:9": 21 / 9}
MAX_THUMBS = 60


def resolution_bucket(width: int, height: int) -> str:
    """``<height class>p <aspect>``, e.g. ``720p 16:9``; the height class is the largest standard one not above the
    smaller side (below 144 px the size itself)."""
    side = min(width, height)
    cls = max((h for h in HEIGHTS if h <= side), default=side)
    aspect = min(ASPECTS, key=lambda k: abs(math.log(width / height / ASPECTS[k])))
    return f"{cls}p {aspect}"


def duration_bucket(seconds: float, edges: list[float]) -> str:
    edges = sorted(edges)
    if seconds < edges[0]:
        return f"<{edges[0]:g}s"
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if seconds < hi:
            return f"{lo:g}-{hi:g}s"
    return f"{edges[-1]:g}s+"


def bucket_summary(records: list[ClipRecord], settings) -> dict[str, dict[str, int]]:
    """Counts of kept clips per resolution and duration bucket; also sets ``labels["bucket"]`` on each kept clip."""
    table: dict[str, dict[str, int]] = {}
    for r in records:
        if r.status != "kept":
            continue
        res = resolution_bucket(r.width, r.height)
        dur = duration_bucket((r.end or 0) - r.start, settings.buckets_duration)
        r.labels["bucket"] = f"{res} {dur}"
        table.setdefault(res, {}).setdefault(dur, 0)
        table[res][dur] += 1
    return {k: dict(sorted(v.items())) for k, v in sorted(table.items())}


def svg_histogram(name: str, kept: list[float], rejected: list[float], bins: int = 20) -> str:
    """A stacked histogram (kept green, rejected red) as inline SVG."""
    values = np.asarray(kept + rejected, dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1e-9
    edges = np.linspace(lo, hi, bins + 1)
    k = np.histogram(kept, edges)[0] if kept else np.zeros(bins, int)
    r = np.histogram(rejected, edges)[0] if rejected else np.zeros(bins, int)
    top = max(1, int((k + r).max()))
    w, h, pad = 320, 120, 18
    bw = (w - 2 * pad) / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 2 * pad}" role="img">',
             f'<text x="{pad}" y="12" font-size="12">{html.escape(name)} (n={len(values)})</text>']
    for i in range(bins):
        x = pad + i * bw
        hk = h * k[i] / top
        hr = h * r[i] / top
        base = pad + h
        if hk:
            parts.append(f'<rect x="{x:.1f}" y="{base - hk:.1f}" width="{bw - 1:.1f}" height="{hk:.1f}" fill="#3a3"/>')
        if hr:
            parts.append(f'<rect x="{x:.1f}" y="{base - hk - hr:.1f}" width="{bw - 1:.1f}" height="{hr:.1f}" '
                         f'fill="#c33"/>')
    parts.append(f'<text x="{pad}" y="{h + 2 * pad - 2}" font-size="10">{lo:.4g}</text>')
    parts.append(f'<text x="{w - pad}" y="{h + 2 * pad - 2}" font-size="10" text-anchor="end">{hi:.4g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[tuple], header: tuple) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _thumbs(records: list[ClipRecord]) -> str:
    cells = []
    for r in records[:MAX_THUMBS]:
        thumb = r.labels.get("thumb")
        if not thumb:
            continue
        note = ", ".join(r.labels.get("reasons") or [r.reason]) if r.reason else r.labels.get("camera_motion", "")
        title = f"{r.labels.get('input', '')} {r.start:.2f}-{(r.end or 0):.2f}s {note}"
        cells.append(f'<figure><img src="{html.escape(str(thumb))}" title="{html.escape(title)}">'
                     f"<figcaption>{html.escape(str(note))}</figcaption></figure>")
    more = f"<p>... and {len(records) - MAX_THUMBS} more</p>" if len(records) > MAX_THUMBS else ""
    return f'<div class="grid">{"".join(cells)}</div>{more}'


def write_report(path, records: list[ClipRecord], summary: dict, settings) -> None:
    kept = [r for r in records if r.status == "kept"]
    rejected = [r for r in records if r.status == "rejected"]
    errors = [r for r in records if r.status == "error"]
    names = sorted({k for r in records for k in r.scores})
    hists = []
    for name in names:
        kv = [r.scores[name] for r in kept if name in r.scores]
        rv = [r.scores[name] for r in rejected if name in r.scores]
        if kv or rv:
            hists.append(svg_histogram(name, kv, rv))
    seconds = sum((r.end or 0) - r.start for r in kept)
    counts = [("inputs", summary.get("inputs", 0)), ("kept clips", len(kept)), ("kept seconds", f"{seconds:.1f}"),
              ("rejected", len(rejected)), ("errors", len(errors))]
    headline = summary.get("reasons", {})
    failing = summary.get("all_reasons", {})
    reasons = sorted(((k, headline.get(k, 0), failing.get(k, headline.get(k, 0))) for k in {*headline, *failing}),
                     key=lambda row: (-row[2], row[0]))
    cut_rows = [(name, len(c.get("frames", [])), " ".join(f"{t:.2f}" for t in c.get("seconds", [])),
                 "; ".join(f"{d}: {len(v)}" for d, v in c.get("by_detector", {}).items()))
                for name, c in summary.get("cuts", {}).items()]
    rejected_rows = [(r.labels.get("input", ""), f"{r.start:.2f}-{(r.end or 0):.2f}",
                      ", ".join(r.labels.get("reasons") or [r.reason])) for r in rejected]
    buckets = [(res, dur, n) for res, row in summary.get("buckets", {}).items() for dur, n in row.items()]
    error_rows = [(r.labels.get("input", r.path), r.reason, r.labels.get("detail", "")) for r in errors]
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>vgen curate report</title><style>
body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}} .grid{{display:flex;flex-wrap:wrap;gap:6px}}
figure{{margin:0;font-size:11px;width:{settings.thumb_width}px}} img{{width:100%}}
</style></head><body><h1>vgen curate report</h1>
<h2>Summary</h2>{_table(counts, ("what", "count"))}
<h2>Rejection reasons</h2><p>headline: the first failing check of a clip; failing: every clip that failed it</p>
{_table(reasons, ("reason", "headline", "failing"))}
<h2>Detected cuts</h2>{_table(cut_rows, ("input", "cuts", "at (s)", "per detector"))}
<h2>Buckets (kept clips)</h2>{_table(buckets, ("resolution", "duration", "clips"))}
<h2>Scores</h2><p>green: kept, red: rejected</p><div class="grid">{"".join(hists)}</div>
<h2>Kept clips</h2>{_thumbs(kept)}
<h2>Rejected clips</h2>{_thumbs(rejected)}
{_table(rejected_rows, ("input", "span (s)", "reasons"))}
<h2>Unreadable inputs</h2>{_table(error_rows, ("input", "reason", "detail"))}
<h2>Skipped files (not videos)</h2>{_table([(n,) for n in summary.get("skipped", [])], ("file",))}
</body></html>
"""
    write_text(path, doc)
