"""Atomic writes: write to a temporary name beside the target, fsync, then rename over it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from vgen.errors import UserError

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
    if target.is_dir():
        raise UserError(f"{target} is a folder: a file cannot be written there")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target.parent, f".{target.name}.tmp")
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
def atomic_dir(target: str | os.PathLike, replace: bool = False):
    """Yield a temporary folder; on success it becomes ``target`` (an existing one survives any failure).

    An existing ``target`` is replaced only when that cannot lose what vgen did not write (vgen.io.outputs): it is
    empty, it or its parent folder carries a vgen output marker, or the caller passes ``replace`` (its command
    checked the folder, e.g. ``--overwrite``). A file there is never moved away."""
    from vgen.io.outputs import MARKER

    target = Path(target)
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise UserError(f"{target} exists and is not a folder: choose another output")
        ours = (target / MARKER).is_file() or (target.parent / MARKER).is_file() or not any(target.iterdir())
        if not (replace or ours):
            raise UserError(f"{target} already exists and vgen did not write it: choose another output folder "
                            "(vgen never replaces a folder it did not make)")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target.parent, f".{target.name}.", ".tmp")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _publish_modes(tmp)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
            os.replace(target, old)  # an empty folder is replaced by rename; old is one of ours now
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_stale(folder: Path, prefix: str, suffix: str = "") -> None:
    """Temporaries of the same target that a killed run left behind (the names only this module makes)."""
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            name = entry.name
            if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix) + 5:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


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
