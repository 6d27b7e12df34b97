"""Score the sound of shapes-world videos against what is on screen (``vgen eval dub``), no prompt needed.

- pitch: the set of loudest palette tones (as many as there are objects) equals the set of colours on screen;
- sync (videos with a bouncing object): every contact with the bottom edge has a click within one video frame and no
  click is more than one frame from a contact;
- silence (videos without one): no click at all.
What is on screen comes from the frames as ``vgen eval shapes`` sees them (components, tracks, contacts); the sound
tests are ``score.score_sound``'s (docs/shapes-world.md, Sound).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vgen.errors import UserError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm")


def on_screen(frames: np.ndarray) -> tuple[list[str], list[int]]:
    """The colours of the objects on screen and the frames in which a bouncing one touches the bottom edge."""
    from vgen_plugins.shapes.score import SIZES, build_tracks, estimate_background, find_components

    frames = np.asarray(frames)
    t, h, w, _ = frames.shape
    canvas = (h + w) / 2
    min_area = max(4, int(0.125 * (SIZES["small"] * canvas) ** 2))
    tracks = build_tracks(find_components(frames, estimate_background(frames), min_area), h, w)
    return sorted({tr.colour for tr in tracks}), sorted({f for tr in tracks for f in tr.contacts})


def score_dub(frames, audio, sample_rate: int, fps: float) -> dict:
    """``pitch``, ``sync`` (None without a contact), ``silent`` (None with one) and what they were judged on."""
    from vgen_plugins.shapes.score import score_sound

    colours, contacts = on_screen(frames)
    if audio is None:
        return {"pitch": False, "sync": False if contacts else None, "silent": None if contacts else False,
                "colours": colours, "contacts": contacts, "sound": False}
    sound = score_sound(audio, sample_rate, colours, contacts, fps)
    result = {"pitch": bool(colours) and sound["pitch"], "colours": colours, "contacts": contacts,
              "tones": sound["tones"], "click_times": sound["click_times"], "stray_clicks": sound["stray_clicks"],
              "silent_contacts": sound["silent_contacts"], "sound": True}
    result["sync"] = sound["clicks"] if contacts else None
    result["silent"] = None if contacts else not sound["click_times"]
    return result


def score_file(video: Path) -> dict:
    from vgen.io.video import read_video

    clip = read_video(video)
    result = score_dub(clip.frames, clip.audio, clip.sample_rate or 16000, clip.fps or 8.0)
    result["video"] = str(video)
    return result


def summarise(rows: list[dict]) -> dict:
    def share(key):
        judged = [r[key] for r in rows if r.get(key) is not None]
        return (sum(map(bool, judged)) / len(judged) if judged else None), len(judged)

    (pitch, n), (sync, n_sync), (silent, n_silent) = share("pitch"), share("sync"), share("silent")
    return {"n": n, "pitch": pitch, "sync": sync, "n_sync": n_sync, "silent": silent, "n_silent": n_silent,
            "no_sound": sum(not r["sound"] for r in rows)}


def evaluate_dub(folder: str | Path, progress=None) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")
    videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not videos:
        raise UserError(f"no videos in {folder}")
    rows = []
    for i, video in enumerate(videos, 1):
        rows.append(score_file(video))
        if progress:
            progress(i, len(videos))
    return {"folder": str(folder), "summary": summarise(rows), "videos": rows}
