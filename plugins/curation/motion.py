"""Optical flow (OpenCV Farneback) once per clip, the motion filter, and camera-motion labels from the flow field.

The flow of each sampled frame pair is fitted with a global similarity model
    u = tx + a*x - b*y,   v = ty + b*x + a*y      (x, y from the frame centre)
by weighted least squares (textured pixels count, outliers such as moving objects are down-weighted). ``tx, ty`` is
the camera's translation or pan/tilt, ``a`` its zoom. All speeds are in frame widths per second.
"""

from __future__ import annotations

import numpy as np

from vgen.curate.stages import ClipContext

# HunyuanVideo's 14 camera-motion classes. The flow model below tells static, handheld, zoom and the direction; a
# camera that translates (pan), turns (tilt) or orbits (around) is told apart by geometry in camera.py.
CAMERA_MOTIONS = ("zoom in", "zoom out", "pan up", "pan down", "pan left", "pan right", "tilt up", "tilt down",
                  "tilt left", "tilt right", "around left", "around right", "static shot", "handheld shot")
MAX_PAIRS = 48
FLAT_WEIGHT = 20.0  # the vote of a textureless pixel, against up to 200 for a strong edge
CAMERA_AGREEMENT = 0.5  # a pair whose fitted motion fewer pixels follow is object motion over a still camera


def _flow_fields(frames: np.ndarray, fps: float, analysis_fps: float):
    """Farneback flow between frames ``k`` apart (``k`` gives about ``analysis_fps`` pairs per second)."""
    import cv2
    from vgen_plugins.curation.quality import grey

    k = max(1, int(round(fps / analysis_fps)))
    starts = np.arange(0, len(frames) - k, k)
    if len(starts) > MAX_PAIRS:
        starts = starts[np.linspace(0, len(starts) - 1, MAX_PAIRS).round().astype(int)]
    g = grey(frames).astype(np.uint8)
    w = frames.shape[2]
    win = max(7, (w // 12) | 1)
    fields = [cv2.calcOpticalFlowFarneback(g[i], g[i + k], None, 0.5, 3, win, 3, 5, 1.1, 0) for i in starts]
    return fields, g, starts, k


def fit_similarity(flow: np.ndarray, weight: np.ndarray, step: int = 2, margin: float = 0.1) -> tuple[np.ndarray, float]:
    """Robust weighted least-squares fit of (tx, ty, a, b) to one flow field; returns params and mean residual (px)."""
    h, w = flow.shape[:2]
    ys = np.arange(int(h * margin), int(h * (1 - margin)), step)
    xs = np.arange(int(w * margin), int(w * (1 - margin)), step)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    u = flow[yy, xx, 0].ravel()
    v = flow[yy, xx, 1].ravel()
    x = (xx - (w - 1) / 2).ravel().astype(np.float64)
    y = (yy - (h - 1) / 2).ravel().astype(np.float64)
    wt = weight[yy, xx].ravel().astype(np.float64) + 1e-6
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    a_mat = np.concatenate([np.stack([ones, zeros, x, -y], 1), np.stack([zeros, ones, y, x], 1)])
    rhs = np.concatenate([u, v])
    base = np.concatenate([wt, wt])
    robust = np.ones_like(base)
    params = np.zeros(4)
    for _ in range(3):  # iteratively reweighted: pixels far from the model (moving objects) count less
        sw = np.sqrt(base * robust)
        params = np.linalg.lstsq(a_mat * sw[:, None], rhs * sw, rcond=None)[0]
        r = np.abs(a_mat @ params - rhs)
        scale = max(float(np.median(r)) * 1.5, 0.05)
        robust = 1.0 / (1.0 + (r / scale) ** 2)
    residual = float(np.average(np.abs(a_mat @ params - rhs), weights=base))
    return params, residual


def agreeing_fraction(flow: np.ndarray, params: np.ndarray, step: int = 2, margin: float = 0.1) -> float:
    """Share of the frame whose flow follows the fitted camera motion (where that motion is over 0.2 px).

    A camera move shifts nearly every pixel; an object moving over a still background (plain or not) leaves most
    pixels where they were, however strongly its edges pull the fit."""
    h, w = flow.shape[:2]
    yy, xx = np.mgrid[int(h * margin):int(h * (1 - margin)):step, int(w * margin):int(w * (1 - margin)):step]
    x, y = xx - (w - 1) / 2, yy - (h - 1) / 2
    tx, ty, a, b = params
    pu, pv = tx + a * x - b * y, ty + b * x + a * y
    size = np.hypot(pu, pv)
    if float(size.mean()) < 0.2:
        return 1.0  # no camera motion to confirm
    err = np.hypot(flow[yy, xx, 0] - pu, flow[yy, xx, 1] - pv)
    return float(np.mean(err < 0.5 * np.maximum(size, 0.2)))


def global_motion(clip: ClipContext) -> dict:
    """Per-pair global motion and summary numbers in frame widths per second (cached on the clip)."""
    if "motion" in clip.cache:
        return clip.cache["motion"]
    import cv2

    s = clip.settings
    fields, g, starts, k = _flow_fields(clip.frames, clip.fps, s.analysis_fps)
    w = clip.frames.shape[2]
    rate = clip.fps / k  # pairs per second
    per_pair, speed, residual, moving, peak = [], [], [], [], []
    moving_px = s.moving_speed * w / rate  # the per-pair displacement of a pixel moving at `moving_speed`
    for i, flow in zip(starts, fields, strict=True):
        gx = cv2.Sobel(g[i], cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g[i], cv2.CV_32F, 0, 1, ksize=3)
        # texture weighs most, but flat areas still vote (their flow is ~0 unless the frame moves): a small object
        # moving over a plain, still background must not read as the camera moving
        weight = np.minimum(np.hypot(gx, gy), 200.0) + FLAT_WEIGHT
        params, res = fit_similarity(flow, weight)
        if agreeing_fraction(flow, params) < CAMERA_AGREEMENT:
            params = np.zeros(4)  # most of the frame stays put: objects move, the camera does not
        per_pair.append(params)
        magnitude = np.hypot(flow[..., 0], flow[..., 1])
        speed.append(float(magnitude.mean()))
        moving.append(float((magnitude > moving_px).mean()))
        peak.append(float(np.percentile(magnitude, 99)))
        residual.append(res)
    if not per_pair:
        out = {"pairs": np.zeros((0, 4)), "speed": 0.0, "residual": 0.0, "moving": 0.0, "peak": 0.0}
    else:
        p = np.array(per_pair)
        # translation in widths/s; zoom as the speed of the frame edge (a * w/2 px per pair) in widths/s
        pairs = np.stack([p[:, 0] / w * rate, p[:, 1] / w * rate, p[:, 2] / 2 * rate, p[:, 3] / 2 * rate], 1)
        out = {"pairs": pairs, "speed": float(np.mean(speed)) / w * rate,
               "residual": float(np.mean(residual)) / w * rate, "moving": float(np.mean(moving)),
               "peak": float(np.mean(peak)) / w * rate}
    clip.cache["motion"] = out
    return out


def summarize(motion: dict) -> dict[str, float]:
    pairs = motion["pairs"]
    if len(pairs) == 0:
        return {"pan_x": 0.0, "pan_y": 0.0, "zoom": 0.0, "jitter": 0.0}
    mean = pairs.mean(0)
    jitter = float(np.sqrt(pairs[:, 0].var() + pairs[:, 1].var() + 4 * pairs[:, 2].var()))
    return {"pan_x": float(mean[0]), "pan_y": float(mean[1]), "zoom": float(mean[2]), "jitter": jitter}


def camera_label(summary: dict[str, float], static_max: float, handheld_min: float) -> str:
    """One of CAMERA_MOTIONS from the clip's mean global motion and its jitter."""
    px, py, z, jitter = summary["pan_x"], summary["pan_y"], summary["zoom"], summary["jitter"]
    steady = max(abs(px), abs(py), abs(z))
    if jitter > handheld_min and jitter > steady:
        return "handheld shot"
    if steady < static_max:
        return "static shot"
    if abs(z) >= max(abs(px), abs(py)):
        return "zoom in" if z > 0 else "zoom out"  # content expanding from the centre: the camera zooms in
    if abs(px) >= abs(py):
        return "pan left" if px > 0 else "pan right"  # content moving right: the camera turns left
    return "tilt up" if py > 0 else "tilt down"  # content moving down: the camera turns up


class Motion:
    """Score ``motion`` (mean optical-flow speed), ``moving_fraction`` (share of pixels faster than ``moving_speed``),
    ``motion_peak`` (99th percentile speed) and ``jitter``; reject ``static`` and ``too_shaky`` clips.

    The mean alone reads a small object moving over a still camera as still (most pixels do not move); a clip is
    ``static`` only when the mean is low *and* almost no pixel moves: frozen or near-still content."""

    def __init__(self, settings):
        self.settings = settings

    def __call__(self, clip: ClipContext) -> None:
        s = self.settings
        m = global_motion(clip)
        summary = summarize(m)
        clip.scores["motion"] = round(m["speed"], 5)
        clip.scores["jitter"] = round(summary["jitter"], 5)
        clip.scores["object_motion"] = round(m["residual"], 5)
        clip.scores["moving_fraction"] = round(m["moving"], 5)
        clip.scores["motion_peak"] = round(m["peak"], 5)
        if m["speed"] < s.min_motion and m["moving"] < s.min_moving:
            clip.reject("static")
        elif summary["jitter"] > s.max_jitter:
            clip.reject("too_shaky")


class CameraMotion:
    """Label ``camera_motion`` with one of HunyuanVideo's 14 classes; scores ``pan_x``, ``pan_y``, ``zoom`` (flow
    model) and ``parallax``, ``keystone`` (geometry, camera.py)."""

    def __init__(self, settings):
        self.settings = settings

    def __call__(self, clip: ClipContext) -> None:
        s = self.settings
        summary = summarize(global_motion(clip))
        for key in ("pan_x", "pan_y", "zoom"):
            clip.scores[key] = round(summary[key], 5)
        from vgen_plugins.curation.camera import camera_motion

        coarse = camera_label(summary, s.static_max, s.handheld_min)
        label, geometry = camera_motion(clip.frames, clip.fps, coarse, s.static_max, s.handheld_min)
        for key in ("parallax", "keystone"):
            if key in geometry:
                clip.scores[key] = round(geometry[key], 5)
        clip.labels["camera_motion"] = label
