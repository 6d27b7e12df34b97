"""The clip manifest: JSONL, one pydantic-validated record per clip, written by curate and the shapes generator,
read by train. Appending is line-atomic (one write per record, flushed), so an interrupted run keeps every finished
record and a rerun can skip what is there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from vgen.errors import UserError
from vgen.io.atomic import write_text


class ClipRecord(BaseModel):
    """One clip: where it is, what span of which source it covers, what it shows and how it scored."""

    path: str  # the clip file, relative to the manifest's folder or absolute
    source: str | None = None  # the original video it was cut from
    start: float = 0.0  # seconds into ``source``
    end: float | None = None  # seconds into ``source``
    fps: float
    width: int
    height: int
    frames: int
    caption: str | None = None  # the caption training uses
    captions: dict[str, str] = Field(default_factory=dict)  # other captions (short, dense, template ...)
    scores: dict[str, float] = Field(default_factory=dict)  # sharpness, motion, brightness ...
    labels: dict[str, str | int | float | bool | list | dict] = Field(default_factory=dict)  # camera motion, objects
    status: Literal["kept", "rejected", "error"] = "kept"
    reason: str | None = None  # why a clip was rejected or failed
    audio: bool = False  # the clip file has an audio track

    def resolve(self, manifest_path: str | Path) -> Path:
        """The clip's file: an absolute path as the manifest says, else inside the manifest's folder (a relative
        path that leaves it, ``../``, is refused)."""
        path = Path(self.path)
        if path.is_absolute():
            return path
        folder = Path(manifest_path).parent
        if ".." in path.parts and not (folder / path).resolve().is_relative_to(folder.resolve()):
            raise UserError(f"{manifest_path}: clip path {self.path!r} leaves the manifest's folder (use an absolute "
                            "path to name a file elsewhere)")
        return folder / path

    @model_validator(mode="after")
    def _sizes(self):
        """A kept clip has a real size and frame rate (an error record may carry zeros)."""
        if self.status == "kept" and (min(self.width, self.height, self.frames) < 1 or not 0 < self.fps < 1e4):
            raise ValueError(f"a kept clip needs width, height, frames >= 1 and 0 < fps < 10000, got "
                             f"{self.width}x{self.height}, {self.frames} frames at {self.fps:g} fps")
        return self


def read_manifest(path: str | Path, status: str | None = None) -> list[ClipRecord]:
    return list(iter_manifest(path, status))


def iter_manifest(path: str | Path, status: str | None = None) -> Iterator[ClipRecord]:
    """Records of ``path`` (only those with ``status`` when given); a bad line is a UserError naming the line."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.jsonl"
    if not path.is_file():
        raise UserError(f"manifest not found: {path}")
    with open(path, encoding="utf-8") as f:
        lines = enumerate(f, 1)
        while True:
            try:
                lineno, line = next(lines)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise UserError(f"{path}: not a manifest (not UTF-8 text; a binary file?)") from None
            if not line.strip():
                continue
            try:
                record = ClipRecord.model_validate_json(line)
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "record"
                raise UserError(f"{path}:{lineno}: field {field!r}: {err['msg']}".replace("\n", " ")) from None
            if status is None or record.status == status:
                yield record


def write_manifest(path: str | Path, records: Iterable[ClipRecord]) -> Path:
    """Write a whole manifest atomically."""
    text = "".join(r.model_dump_json() + "\n" for r in records)
    write_text(path, text)
    return Path(path)


class ManifestAppender:
    """Append records one at a time (each a single flushed, fsynced write) for resumable stages."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate_partial_line()
        self._f = open(self.path, "a")

    def _truncate_partial_line(self) -> None:
        """A crash mid-write can leave a last line without its newline: drop it."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            keep = data[: data.rfind(b"\n") + 1]
            self.path.write_bytes(keep)

    def append(self, record: ClipRecord) -> None:
        self._f.write(record.model_dump_json() + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def summary(records: Iterable[ClipRecord]) -> dict:
    """Counts by status and by rejection reason."""
    out: dict = {"kept": 0, "rejected": 0, "error": 0, "reasons": {}}
    for r in records:
        out[r.status] += 1
        if r.reason and r.status != "kept":
            out["reasons"][r.reason] = out["reasons"].get(r.reason, 0) + 1
    return out

