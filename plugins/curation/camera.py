"""Camera motion from geometry: HunyuanVideo's 14 classes from tracked points, a homography and its parallax.

Points are tracked (Shi-Tomasi corners, pyramidal Lucas-Kanade, forward-backward checked) between frames about
0.3 s apart, and a homography is fitted to each pair with RANSAC, in coordinates centred on the frame and scaled by
its half width. What separates the classes:

- rotating the camera (tilt) moves every point by one homography whatever its depth, with a perspective row
  (``h31``, ``h32``) that grows with the turn (the keystone of a wide lens): no parallax;
- translating it (pan) leaves the points of the other depths off the homography of the dominant one (parallax), all
  moving the same way, and no perspective row;
- orbiting (around) does both: parallax with the layers beyond and before the pivot moving against each other, and
  the turn's perspective row, whose sign says which way the camera turns (it travels the other way);
- zooming scales about the centre (focal change or dolly); static and handheld come from the flow-based motion
  model (``motion.py``), which also tells a moving object over a still camera from a camera move.

Uniform motion without parallax or keystone (a flat scene, a long lens) cannot tell translation from rotation; it
keeps the film convention: horizontal is a pan, vertical a tilt.
"""

from __future__ import annotations

import numpy as np

GAP_SECONDS = 0.3  # frames this far apart are compared
MAX_PAIRS = 10
MIN_POINTS = 20
PARALLAX_PX = 1.5  # a point this far (px at the analysis size) off the homography moves at another depth
MIN_PARALLAX_SHARE = 0.08  # of the tracked points, to call the shot translating
MIN_TWO_WAY_SHARE = 0.05  # of the tracked points moving each way along x, to call the shot an orbit
ORBIT_KEYSTONE = 0.2  # keystone of a translating camera that also turns (a pan has none)
MIN_TURN = 0.005  # perspective row (per half width) of a turning camera


def track_pairs(frames: np.ndarray, fps: float) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
    """(points in frame i, the same points in frame i + k) for up to MAX_PAIRS pairs, in pixels; and k in seconds."""
    import cv2
    from vgen_plugins.curation.quality import grey

    k = max(1, int(round(GAP_SECONDS * fps)))
    starts = np.arange(0, len(frames) - k)
    if len(starts) == 0:
        return [], k / fps
    starts = np.unique(starts[np.linspace(0, len(starts) - 1, min(MAX_PAIRS, len(starts))).round().astype(int)])
    g = grey(frames).astype(np.uint8)
    w = frames.shape[2]
    lk = {"winSize": (15, 15), "maxLevel": 3,
          "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)}
    pairs = []
    for i in starts:
        p0 = cv2.goodFeaturesToTrack(g[i], maxCorners=400, qualityLevel=0.01, minDistance=max(2, w // 50))
        if p0 is None or len(p0) < MIN_POINTS:
            continue
        p1, ok, _ = cv2.calcOpticalFlowPyrLK(g[i], g[i + k], p0, None, **lk)
        back, ok2, _ = cv2.calcOpticalFlowPyrLK(g[i + k], g[i], p1, None, **lk)
        good = (ok[:, 0] == 1) & (ok2[:, 0] == 1) & (np.linalg.norm(back - p0, axis=2)[:, 0] < 0.5)
        if good.sum() >= MIN_POINTS:
            pairs.append((p0[good, 0].astype(np.float64), p1[good, 0].astype(np.float64)))
    return pairs, k / fps


def pair_features(p0: np.ndarray, p1: np.ndarray, width: int, height: int) -> dict | None:
    """Homography, parallax and perspective numbers of one tracked pair (coordinates in half widths)."""
    import cv2

    half = width / 2
    centre = np.array([width / 2, height / 2])
    a, b = (p0 - centre) / half, (p1 - centre) / half
    h, mask = cv2.findHomography(a, b, cv2.RANSAC, 0.6 / half)
    if h is None:
        return None
    h = h / h[2, 2]
    pred = cv2.perspectiveTransform(a[:, None], h)[:, 0]
    off = np.linalg.norm(b - pred, axis=1) * half > PARALLAX_PX
    flow = b - a
    moved = cv2.perspectiveTransform(np.zeros((1, 1, 2)), h)[:, 0]
    # zoom: each axis's flow of every point fitted as a shift plus a scaling about the centre (a dolly scales the
    # layers unequally, so the dominant homography alone would miss it); a zoom scales both axes alike, while an
    # orbit whose near layer sits on one side only correlates the horizontal flow with x
    axis_scale = []
    for j in (0, 1):
        design = np.stack([np.ones(len(a)), a[:, j]], 1)
        axis_scale.append(float(np.linalg.lstsq(design, b[:, j] - a[:, j], rcond=None)[0][1]))
    sx, sy = axis_scale
    scale = float(np.sign(sx) * min(abs(sx), abs(sy))) if sx * sy > 0 else 0.0
    # two-way: the share of points moving each way along an axis (by more than PARALLAX_PX), the smaller of the two,
    # within each half of the frame (a zoom moves the two halves apart, each one way; an orbit splits by depth)
    px = flow * half
    against = []
    for j in (0, 1):
        shares = [min(float(np.mean(px[side, j] > PARALLAX_PX)), float(np.mean(px[side, j] < -PARALLAX_PX)))
                  for side in (a[:, j] < 0, a[:, j] >= 0) if side.sum() >= MIN_POINTS // 2]
        against.append(float(np.mean(shares)) if shares else 0.0)
    return {"t": moved[0], "scale": float(scale), "persp": h[2, :2].copy(), "parallax": float(off.mean()),
            "against": np.array(against), "speed": float(np.percentile(np.abs(flow), 80) * half),
            "median": np.median(flow, 0)}


def classify(pairs: list[dict], coarse: str, gap: float, static_max: float = 0.02,
             handheld_min: float = 0.08) -> tuple[str, dict[str, float]]:
    """The class from the per-pair features (pairs ``gap`` seconds apart), given the flow model's label ``coarse``
    (trusted for a still camera under moving objects); returns the label and the clip's geometry scores."""
    if not pairs:
        return coarse, {}
    per_s = 0.5 / gap  # half widths per pair -> frame widths per second
    t = np.mean([p["t"] for p in pairs], 0)
    persp = np.mean([p["persp"] for p in pairs], 0)
    against = np.mean([p["against"] for p in pairs], 0)
    parallax = float(np.mean([p["parallax"] for p in pairs]))
    med = np.array([p["median"] for p in pairs])
    steady = float(np.abs(med.mean(0)).max()) * per_s
    jitter = float(np.sqrt(med.var(0).sum())) * per_s
    zoom = float(np.mean([p["scale"] for p in pairs])) * per_s  # speed of the frame's edge, widths per second
    scores = {"shift_x": float(t[0]) * per_s, "shift_y": float(t[1]) * per_s, "zoom_rate": zoom,
              "persp_x": float(persp[0]), "persp_y": float(persp[1]), "parallax": parallax,
              "against": float(against[0]), "steady": steady, "shake": jitter}
    # an orbit: points moving both ways along x, and the turn's perspective row (two objects crossing a still
    # camera's view also move both ways, but on a homography without one)
    orbit = against[0] >= MIN_TWO_WAY_SHARE and abs(persp[0]) >= MIN_TURN
    keystone = abs(persp[0]) * 0.5 / max(abs(t[0]), 1e-6)  # about tan(fov / 2)^2 / 2 for a pure turn
    scores["keystone"] = float(keystone)
    moved = max(abs(t[0]) * per_s, abs(t[1]) * per_s, abs(zoom)) > static_max
    # a translation that also turns (parallax and keystone, in a steady direction) is an orbit too
    orbit = orbit or (moved and parallax >= MIN_PARALLAX_SHARE and keystone > ORBIT_KEYSTONE and steady > jitter
                      and abs(t[0]) > abs(t[1]) and abs(persp[0]) >= MIN_TURN)
    # a zoom or dolly spreads points both ways too, about the centre
    zooming = abs(zoom) > 2.5 * static_max and abs(zoom) > max(steady, abs(t).max() * per_s)
    orbit = orbit and not zooming
    moving_camera = orbit or (moved and parallax >= MIN_PARALLAX_SHARE) or abs(zoom) > static_max
    if coarse == "static shot" and not moving_camera:
        return coarse, scores  # moving objects over a still camera, or nothing moving
    if orbit:  # layers on either side of the pivot move against each other; the camera travels against its turn
        return ("around right" if persp[0] < 0 else "around left"), scores
    if (jitter > handheld_min or coarse == "handheld shot") and jitter > max(steady, abs(zoom)):
        return "handheld shot", scores
    if not moved and steady < static_max:
        return "static shot", scores
    if abs(zoom) > max(steady, 0.5 * abs(t).max() * per_s):
        return ("zoom in" if zoom > 0 else "zoom out"), scores
    shift = med.mean(0)
    axis = 0 if abs(shift[0]) >= abs(shift[1]) else 1
    names = ("left", "right") if axis == 0 else ("up", "down")
    # content moving towards +x or +y means the camera goes (or turns) towards -x (left) or -y (up)
    direction = names[0] if shift[axis] > 0 else names[1]
    keystone = abs(persp[axis]) * 0.5 / max(abs(t[axis]), 1e-6)
    if parallax >= MIN_PARALLAX_SHARE:
        return "pan " + direction, scores
    if keystone > 0.06:
        return "tilt " + direction, scores
    return ("pan " if axis == 0 else "tilt ") + direction, scores


def camera_motion(frames: np.ndarray, fps: float, coarse: str, static_max: float, handheld_min: float):
    """The class and geometry scores of a clip's frames (``coarse``: the flow model's label)."""
    pairs, gap = track_pairs(frames, fps)
    h, w = frames.shape[1:3]
    features = [f for f in (pair_features(a, b, w, h) for a, b in pairs) if f is not None]
    return classify(features, coarse, gap, static_max, handheld_min)
