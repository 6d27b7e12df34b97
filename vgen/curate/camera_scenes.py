"""Layered scenes filmed by a virtual pinhole camera: ground truth for HunyuanVideo's 14 camera-motion classes.

A scene is a stack of textured planes facing the camera at several depths (an opaque far background, then layers of
opaque shapes nearer the camera). Each frame warps every layer with the homography its plane induces for the
camera's pose, ``K R^T M`` (``M`` maps texels to world points relative to the camera centre), and composites them far
to near. Translating the camera moves near layers faster than far ones (parallax); rotating it moves every layer
alike (no parallax, with the keystone a wide lens gives); orbiting translates and turns the other way, so layers
nearer than the pivot move against the ones beyond it.

Conventions (what a correct labeller says): "pan" translates the camera (left: towards its -x), "tilt" rotates it
(left: yaw so it looks further left), "around" orbits the pivot (left: the camera travels to its left), "zoom"
narrows (in) or widens (out) the view, by focal length or by moving the camera along its axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("zoom in", "zoom out", "pan up", "pan down", "pan left", "pan right", "tilt up", "tilt down", "tilt left",
           "tilt right", "around left", "around right", "static shot", "handheld shot")


@dataclass
class CameraScene:
    motion: str  # one of CLASSES
    seed: int = 0
    seconds: float = 2.5
    speed: float = 0.2  # image speed of the pivot-depth layer (frame widths per second); zoom: focal change per s
    fov: float = 65.0  # horizontal field of view, degrees
    depths: tuple[float, ...] = (12.0, 6.0, 3.5)  # far background first; the middle one is the orbit's pivot
    dolly: bool = False  # zoom by moving the camera along its axis instead of changing the focal length


def _rot(yaw: float, pitch: float) -> np.ndarray:
    """Camera-to-world rotation: yaw about the y axis (down), then pitch about the camera's x axis."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return ry @ rx


def poses(scene: CameraScene, n: int, fps: float, width: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(camera centre, rotation, focal length in px) per frame."""
    f0 = width / 2 / np.tan(np.radians(scene.fov) / 2)
    pivot = scene.depths[len(scene.depths) // 2]
    rng = np.random.default_rng(scene.seed + 7)
    step = scene.speed * width / fps  # px per frame at the pivot depth
    trans = step * pivot / f0  # world units per frame that move the pivot layer `step` px
    turn = step / f0  # radians per frame that move the image centre `step` px
    m = scene.motion
    out = []
    shake = np.cumsum(rng.normal(0, 1, (n, 5)), 0) * 0.5 + rng.normal(0, 1, (n, 5))  # wander + jitter
    for i in range(n):
        c, yaw, pitch, f = np.zeros(3), 0.0, 0.0, f0
        sign = -1.0 if m.endswith(("left", "up", "out")) else 1.0
        if m.startswith("pan"):
            c[0 if m.endswith(("left", "right")) else 1] = sign * trans * i
        elif m.startswith("tilt"):
            if m.endswith(("left", "right")):
                yaw = sign * turn * i
            else:
                pitch = -sign * turn * i  # pitch up lifts the optical axis towards -y
        elif m.startswith("around"):
            phi = -sign * trans * i / pivot  # the orbit's angle; the camera travels `trans` per frame
            yaw = phi  # looking at the pivot (0, 0, pivot) from the circle through the start point
            c = np.array([-pivot * np.sin(phi), 0.0, pivot * (1 - np.cos(phi))])
        elif m.startswith("zoom"):
            rate = (1 + scene.speed / fps) ** (i if sign > 0 else -i)
            if scene.dolly:
                c[2] = pivot * (1 - 1 / rate) * 0.8
            else:
                f = f0 * rate
        elif m == "handheld shot":
            ref = 10 / fps  # the same shake in pixels per frame at any frame rate
            jitter = shake[i] * np.array([0.6 * turn, 0.6 * turn, 0.6 * trans, 0.6 * trans, 0.0]) / ref
            yaw, pitch, c[0], c[1] = jitter[:4]
        out.append((c, _rot(yaw, pitch), f))
    return out


def _layers(scene: CameraScene, width: int, height: int, f0: float, margin: float = 3.0):
    """(texture, alpha or None, depth, world units per texel) per layer, far to near."""
    import cv2

    from vgen.curate.synthetic import texture

    rng = np.random.default_rng(scene.seed)
    layers = []
    for k, depth in enumerate(scene.depths):
        tw, th = int(width * margin), int(height * margin)
        img = texture(scene.seed * 10 + k, th, tw)
        alpha = None
        if k > 0:  # nearer layers: a few opaque shapes over the layers behind
            alpha = np.zeros((th, tw), np.uint8)
            for _ in range(int(4 * margin * margin)):  # each near layer covers about a third of the view
                centre = (int(rng.integers(0, tw)), int(rng.integers(0, th)))
                r = int(rng.integers(height // 10, height // 4))
                if rng.random() < 0.5:
                    cv2.circle(alpha, centre, r, 255, -1, lineType=cv2.LINE_AA)
                else:
                    cv2.rectangle(alpha, (centre[0] - r, centre[1] - r // 2), (centre[0] + r, centre[1] + r // 2),
                                  255, -1)
        layers.append((img, alpha, depth, depth / f0))
    return layers


def render_camera_scene(scene: CameraScene, fps: float = 10, width: int = 128, height: int = 80) -> np.ndarray:
    """The frames (T, H, W, 3) uint8 of ``scene``."""
    import cv2

    n = max(2, int(round(scene.seconds * fps)))
    f0 = width / 2 / np.tan(np.radians(scene.fov) / 2)
    layers = _layers(scene, width, height, f0)
    frames = []
    for c, r, f in poses(scene, n, fps, width):
        k = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]])
        canvas = np.zeros((height, width, 3), np.float32)
        for img, alpha, depth, s in layers:
            th, tw = img.shape[:2]
            m = np.array([[s, 0, -s * tw / 2 - c[0]], [0, s, -s * th / 2 - c[1]], [0, 0, depth - c[2]]])
            h = k @ r.T @ m
            warped = cv2.warpPerspective(img, h, (width, height), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REFLECT).astype(np.float32)
            if alpha is None:
                canvas = warped
            else:
                a = cv2.warpPerspective(alpha, h, (width, height), flags=cv2.INTER_LINEAR)[..., None] / 255.0
                canvas = canvas * (1 - a) + warped * a
        frames.append(np.clip(canvas, 0, 255).astype(np.uint8))
    return np.stack(frames)


def labelled_set(per_class: int, seed: int = 0) -> list[CameraScene]:
    """``per_class`` scenes of every class with varied speed, lens, depths and zoom kind."""
    rng = np.random.default_rng(seed)
    scenes = []
    for j, motion in enumerate(CLASSES):
        for i in range(per_class):
            near = float(rng.uniform(2.5, 4.0))
            speed = float(rng.uniform(0.1, 0.25)) if "zoom" in motion else float(rng.uniform(0.12, 0.3))
            scenes.append(CameraScene(motion, seed=seed * 10000 + j * 100 + i, speed=speed,
                                      fov=float(rng.uniform(55, 75)), depths=(float(rng.uniform(10, 16)),
                                                                              float(rng.uniform(5, 7)), near),
                                      dolly=bool(i % 2)))
    return scenes
