"""Atomic writes: write to a temporary name beside the target, fsync, then rename over it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

# mkstemp/mkdtemp make private (0600/0700) entries; what we publish gets the modes a plain open()/mkdir() gives
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE, DIR_MODE = 0o666 & ~_UMASK, 0o777 & ~_UMASK


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path next to ``target``; on success it is renamed to ``target``, on failure removed.

    ``suffix`` keeps the extension (encoders pick the container from it), e.g. ``.mp4``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # the temporary name ends with the real extension: encoders pick the container from it
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp", suffix=suffix or target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(target, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target, text: str) -> None:
    write_bytes(target, text.encode())


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike):
    """Yield a temporary folder; on success it replaces ``target`` (the old folder survives any failure)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _publish_modes(tmp)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish_modes(folder: Path) -> None:
    """Plain modes for a folder about to be published and everything in it: some writers (safetensors >= 0.8
    saves through a private temporary) leave 0600 files behind, which would make shipped weights unreadable."""
    os.chmod(folder, DIR_MODE)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), DIR_MODE)
        for name in files:
            os.chmod(os.path.join(root, name), FILE_MODE)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
