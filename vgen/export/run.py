"""``vgen export FORMAT`` from resolved settings: load the pipeline, find its parts, export them, gate, write."""

from __future__ import annotations

import torch

from vgen import registry
from vgen.errors import UserError
from vgen.export.capture import PARTS, pipeline_parts, video_dims
from vgen.export.exporting import export_parts, prepare
from vgen.export.parts import ROLES, parse_dims
from vgen.io.outputs import claim_dir


def default_video_shapes(pipe) -> list[dict[str, int]]:
    """Two small sizes that differ in every role (so one export proves every dynamic axis)."""
    tc, m = pipe.temporal_compression, pipe.size_multiple
    return [{"batch": 1, "frames": tc + 1, "height": 2 * m, "width": 3 * m, "text_len": 8},
            {"batch": 2, "frames": 2 * tc + 1, "height": 3 * m, "width": 2 * m, "text_len": 13}]


def _video_shape(pipe, text: str, base: dict, label: str) -> dict[str, int]:
    shape = {**base, **parse_dims(text)}
    tc, m = pipe.temporal_compression, pipe.size_multiple
    if (shape["frames"] - 1) % tc:
        raise UserError(f"{label}: frames must be {tc}k+1 for {pipe.name}, got {shape['frames']}")
    for key in ("height", "width"):
        if shape[key] % m:
            raise UserError(f"{label}: {key} must be a multiple of {m} for {pipe.name}, got {shape[key]}")
    return shape


def resolve_shapes(pipe, s) -> tuple[list[dict], dict, dict]:
    """(parity role sizes, profile role ranges, the video-unit sizes for the manifest) from settings."""
    defaults = default_video_shapes(pipe)
    if s.shapes:
        items = [t for t in s.shapes.split(";") if t.strip()]
        if len(items) != 2:
            raise UserError(f"--shapes wants two sizes separated by ';', got {len(items)}")
        video = [_video_shape(pipe, t, d, "--shapes") for t, d in zip(items, defaults, strict=True)]
    else:
        video = defaults
    spans = {"min": {r: min(v[r] for v in video) for r in ROLES}, "opt": dict(video[0]),
             "max": {r: max(v[r] for v in video) for r in ROLES}}
    for key in ("min", "opt", "max"):
        text = getattr(s, key)
        if text:
            spans[key] = _video_shape(pipe, text, spans[key], f"--{key}")
    for r in ROLES:
        lo, mid, hi = spans["min"][r], spans["opt"][r], spans["max"][r]
        if not lo <= mid <= hi or not all(lo <= v[r] <= hi for v in video):
            raise UserError(f"shape ranges: {r} must satisfy min <= opt <= max and cover the parity sizes "
                            f"(min {lo}, opt {mid}, max {hi})")
    to_roles = lambda v: video_dims(pipe, v["batch"], v["frames"], v["height"], v["width"], v["text_len"])  # noqa: E731
    return [to_roles(v) for v in video], {k: to_roles(v) for k, v in spans.items()}, {"parity": video, **spans}


OPTIONS = ("opset", "precision", "timing_cache")  # the settings a format may read (Exporter.options)


def run_export(fmt: str, s) -> dict:
    """Export with ``ExportSettings`` ``s`` as the registered format ``fmt``; returns the manifest."""
    from vgen.device import pick_device

    device = pick_device(s.device)  # one line for a device this machine lacks (cuda, mps, an unknown name)
    options = {k: getattr(s, k) for k in OPTIONS}
    exporter, _ = prepare(fmt, s.dtype, device, None, options)  # a wrong format or option fails before any model
    claim_dir(s.out, "export", overwrite=s.overwrite, inputs=[s.weights], create=False)  # and so does --out
    names = [p.strip() for p in s.parts.split(",") if p.strip()]
    unknown = [n for n in names if n not in PARTS]
    if unknown or not names:
        raise UserError(f"unknown part {unknown[0] if unknown else ''!r}; known: {', '.join(PARTS)}")
    if s.weights is not None and not s.weights.expanduser().is_dir():
        raise UserError(f"weights folder not found: {s.weights}")
    backend = registry.get("pipeline", s.pipeline)
    pipe = backend.factory(weights=s.weights, config=s.config, device=device, dtype=torch.float32)
    shapes, ranges, video = resolve_shapes(pipe, s)
    parts = pipeline_parts(pipe, names, device=device)
    info = {"pipeline": s.pipeline, "weights": str(s.weights) if s.weights else None, "config": s.config,
            "video_shapes": video}
    return export_parts(parts, exporter, s.out, dtype=s.dtype, device=device, shapes=shapes, ranges=ranges,
                        tolerance=s.tolerance, info=info, overwrite=s.overwrite, **options)
