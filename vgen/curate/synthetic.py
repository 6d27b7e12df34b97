"""Synthetic footage with known ground truth, for curation tests and benchmarks.

Each scene is a camera (a crop window) moving over its own large textured image: the window's path decides the
camera motion (pan, tilt, zoom, handheld shake, static), and extras add blur, darkness or a text overlay. Scenes are
concatenated into one video, so the cut frames are known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# motions a scene can have; the names are the camera-motion labels a correct classifier gives
MOTIONS = ("static shot", "pan left", "pan right", "tilt up", "tilt down", "zoom in", "zoom out", "handheld shot",
           "shaky")


@dataclass
class Scene:
    seconds: float
    motion: str = "pan right"
    seed: int = 0
    speed: float = 0.25  # pan/tilt speed in frame widths per second; zoom: relative size change per second
    blur: float = 0.0  # Gaussian blur sigma in output pixels
    text: str | None = None  # drawn at a fixed place over the moving scene
    gain: float = 1.0  # brightness multiplier (0.1 makes a dark scene)
    shake: float | None = None  # handheld shake (px std per frame at the output size); None: the motion's default
    # extras: "objects": n discs moving over the scene at "object_speed" frame widths per second (default 0.3),
    # "object_size": their radius as a share of the frame height (default 0.12); "text_style": see _draw_text;
    # "windows": facades with rows of small windows (text-like, not text)
    extras: dict = field(default_factory=dict)


def texture(seed: int, height: int, width: int) -> np.ndarray:
    """A large colourful image with structure at several scales (so flow and sharpness have something to see)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.float32)
    for scale, weight in ((32, 0.5), (8, 0.3), (2, 0.2)):
        small = rng.random((max(2, height // scale), max(2, width // scale), 3)).astype(np.float32)
        img += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    base = rng.random(3).astype(np.float32)  # each scene gets its own dominant colour
    img = 0.55 * img + 0.45 * base
    for _ in range(max(4, height * width // 4000)):
        colour = tuple(float(c) for c in rng.random(3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            cv2.circle(img, centre, int(rng.integers(3, 14)), colour, -1, lineType=cv2.LINE_AA)
        else:
            size = rng.integers(4, 24, size=2)
            cv2.rectangle(img, centre, (centre[0] + int(size[0]), centre[1] + int(size[1])), colour, -1)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def render_scene(scene: Scene, fps: float, width: int, height: int) -> np.ndarray:
    """The frames (T, H, W, 3) of one scene."""
    import cv2

    n = max(1, int(round(scene.seconds * fps)))
    big_w, big_h = width * 4, height * 4
    image = texture(scene.seed, big_h, big_w)
    if scene.extras.get("windows"):
        _draw_windows(image, scene.seed, height)
    rng = np.random.default_rng(scene.seed + 1000)
    cx, cy = big_w / 2, big_h / 2
    step = scene.speed * width / fps  # pixels per frame for pans and tilts
    shake = {"handheld shot": 1.2, "shaky": 7.0}.get(scene.motion, 0.0) if scene.shake is None else scene.shake
    offsets = rng.normal(0, shake, size=(n, 2)) if shake else np.zeros((n, 2))
    frames = []
    for i in range(n):
        k = i - (n - 1) / 2  # centred so the window stays inside the big image
        x, y, scale = cx, cy, 1.0
        if scene.motion == "pan right":
            x += k * step
        elif scene.motion == "pan left":
            x -= k * step
        elif scene.motion == "tilt up":
            y -= k * step
        elif scene.motion == "tilt down":
            y += k * step
        elif scene.motion == "zoom in":
            scale = 1.6 * (1 - scene.speed / fps) ** i
        elif scene.motion == "zoom out":
            scale = 1.6 * (1 - scene.speed / fps) ** (n - 1 - i)
        x += offsets[i, 0]
        y += offsets[i, 1]
        # crop window of size (scale*width, scale*height) centred at (x, y), resampled to the output size
        s = scale
        m = np.array([[1 / s, 0, width / 2 - x / s], [0, 1 / s, height / 2 - y / s]], np.float32)
        frame = cv2.warpAffine(image, m, (width, height), flags=cv2.INTER_AREA if s > 1 else cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        if scene.extras.get("objects"):
            _draw_objects(frame, scene, i, fps)
        if scene.blur:
            frame = cv2.GaussianBlur(frame, (0, 0), scene.blur)
        if scene.gain != 1.0:
            frame = np.clip(frame.astype(np.float32) * scene.gain, 0, 255).astype(np.uint8)
        if scene.text:
            _draw_text(frame, scene.text, scene.extras.get("text_style", "lines"), i)
        frames.append(frame)
    return np.stack(frames)


def _draw_windows(image: np.ndarray, seed: int, height: int) -> None:
    """Facades with rows of small dark windows (text-like rows of small high-contrast boxes, yet not text)."""
    import cv2

    rng = np.random.default_rng(seed + 3000)
    h, w = image.shape[:2]
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - w // 4)), int(rng.integers(0, h - h // 4))
        fw, fh = int(rng.integers(w // 8, w // 4)), int(rng.integers(h // 8, h // 4))
        cv2.rectangle(image, (x0, y0), (x0 + fw, y0 + fh), (225, 220, 205), -1)
        size = max(2, height // 18)
        for y in range(y0 + size, y0 + fh - size, 2 * size):
            for x in range(x0 + size // 2, x0 + fw - size, int(size * 1.6)):
                cv2.rectangle(image, (x, y), (x + size - 1, y + size - 1), (40, 40, 50), -1)


def _draw_objects(frame: np.ndarray, scene: Scene, i: int, fps: float) -> None:
    """Discs moving in straight lines at constant speed, bouncing off the frame's edges."""
    import cv2

    h, w = frame.shape[:2]
    rng = np.random.default_rng(scene.seed + 2000)
    r = max(2, int(round(scene.extras.get("object_size", 0.12) * h)))
    for _ in range(int(scene.extras["objects"])):
        start = rng.uniform([r, r], [w - r, h - r])
        angle = rng.uniform(0, 2 * np.pi)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        step = scene.extras.get("object_speed", 0.3) * w / fps * i
        pos = []
        for p0, d, span in ((start[0], np.cos(angle), w - 2 * r), (start[1], np.sin(angle), h - 2 * r)):
            q = (p0 - r + d * step) % (2 * span)  # bounce: fold the straight path back into the frame
            pos.append(int(round(r + (q if q <= span else 2 * span - q))))
        cv2.circle(frame, (pos[0], pos[1]), r, colour, -1, lineType=cv2.LINE_AA)


TEXT_STYLES = ("lines", "subtitle", "watermark", "title", "ticker")


def _draw_text(frame: np.ndarray, text: str, style: str = "lines", i: int = 0) -> None:
    """Burnt-in text. ``lines`` (subtitle-like white text with a dark outline on two lines near the bottom and one at
    the top), ``subtitle`` (one outlined line at the bottom), ``watermark`` (small pale text in a corner, no outline),
    ``title`` (large coloured text in the middle), ``ticker`` (a dark band at the bottom with text scrolling left)."""
    import cv2

    h, w = frame.shape[:2]
    scale = h / 160
    font = cv2.FONT_HERSHEY_SIMPLEX
    if style == "lines":
        for line, y in ((text, int(h * 0.22)), (text, int(h * 0.72)), (text.upper(), int(h * 0.92))):
            org = (max(1, int(w * 0.04)), y)
            cv2.putText(frame, line, org, font, scale, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(frame, line, org, font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    elif style == "subtitle":
        (tw, _), _ = cv2.getTextSize(text, font, scale * 0.9, 1)
        org = (max(1, (w - tw) // 2), int(h * 0.9))
        cv2.putText(frame, text, org, font, scale * 0.9, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(frame, text, org, font, scale * 0.9, (255, 255, 255), 1, cv2.LINE_AA)
    elif style == "watermark":
        overlay = frame.copy()
        cv2.putText(overlay, text, (int(w * 0.62), int(h * 0.1)), cv2.FONT_HERSHEY_PLAIN, scale * 0.8, (255, 255, 255),
                    1, cv2.LINE_AA)
        frame[:] = cv2.addWeighted(overlay, 0.7, frame, 0.3, 0)
    elif style == "title":
        cv2.putText(frame, text, (int(w * 0.08), int(h * 0.55)), cv2.FONT_HERSHEY_DUPLEX, scale * 1.3, (250, 220, 40),
                    2, cv2.LINE_AA)
    elif style == "ticker":
        y0 = int(h * 0.84)
        frame[y0:] = (frame[y0:] * 0.25).astype(frame.dtype)
        x = int(w * 0.05 - i * w * 0.02)  # scrolls left from the start of the clip
        cv2.putText(frame, "  +++  ".join([text] * 4), (x, int(h * 0.96)), font, scale * 0.8, (255, 255, 255), 1,
                    cv2.LINE_AA)
    else:
        raise ValueError(f"unknown text style {style!r} (known: {', '.join(TEXT_STYLES)})")


def render(scenes: list[Scene], fps: float = 10, width: int = 96, height: int = 64) -> tuple[np.ndarray, list[int]]:
    """All scenes back to back, and the frame index where each scene after the first starts (the cut frames)."""
    parts = [render_scene(s, fps, width, height) for s in scenes]
    cuts = list(np.cumsum([len(p) for p in parts])[:-1])
    return np.concatenate(parts), [int(c) for c in cuts]


def write_scenes(path: str | Path, scenes: list[Scene], fps: float = 10, width: int = 96, height: int = 64,
                 audio: bool = False, gop: int | None = None) -> list[int]:
    """Render ``scenes`` into an H.264 MP4 at ``path``; returns the cut frames.

    ``gop``: a keyframe every ``gop`` frames (else the encoder's default), which decides where stream copy can cut.
    """
    frames, cuts = render(scenes, fps, width, height)
    wave = None
    if audio:
        t = np.arange(int(len(frames) / fps * 16000)) / 16000
        wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    if gop is None:
        from vgen.io.video import write_video

        write_video(path, frames, fps, audio=wave, preset="veryfast")
    else:
        _write_with_gop(path, frames, fps, gop)
    return cuts


def _write_with_gop(path, frames: np.ndarray, fps: float, gop: int) -> None:
    from fractions import Fraction

    import av

    from vgen.io.atomic import atomic_path
    from vgen.io.video import h264_encoder

    path = Path(path)
    with atomic_path(path, suffix=".mp4") as tmp, av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(h264_encoder() or "h264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "g": str(gop), "keyint_min": str(gop),
                          "sc_threshold": "0", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
