"""The one rule for outputs: a command never deletes or replaces a file or folder it did not create.

- An existing non-empty output folder is refused with one line, unless a marker file in it (``.vgen-output``) says
  this same command wrote it (then the command resumes or adds to it) or the user passed ``--overwrite``.
- Input and output may not overlap (``--out`` inside ``--data`` or the other way round).
- A file where a folder is wanted (or the other way round), an unwritable place or a missing parent is refused
  before any work starts.
- Temporary entries a killed run left behind (``.NAME.tmp...``, written by vgen.io.atomic) are removed by the next
  run of the same command in the same folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from vgen.errors import UserError

MARKER = ".vgen-output"
# what vgen.io.atomic names its temporaries: ".NAME.tmpXXXX.EXT" (files) and ".NAME.XXXX.tmp" (folders)
_TEMP = re.compile(r"^\..+(\.tmp[A-Za-z0-9_]{6,}(\.[A-Za-z0-9]+)*|\.[A-Za-z0-9_]{6,}\.tmp)$")


def marker_command(folder: str | os.PathLike) -> str | None:
    """The command whose output ``folder`` is (its marker file), or None."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text())
        return data["command"] if isinstance(data, dict) and isinstance(data.get("command"), str) else None
    except (OSError, ValueError):
        return None


def mark(folder: str | os.PathLike, command: str) -> None:
    """Record that ``command`` made ``folder`` (so its next run may resume or add to it)."""
    (Path(folder) / MARKER).write_text(json.dumps({"command": command}) + "\n")


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """``path`` can be created or written: its nearest existing ancestor is a writable folder."""
    path = Path(path).expanduser()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        if probe.is_symlink():  # a dangling link
            raise UserError(f"{what} {path}: {probe} is a broken link")
        probe = probe.parent
    if probe != path and not probe.is_dir():
        raise UserError(f"{what} {path}: {probe} is a file, not a folder")
    target = probe if probe.is_dir() else probe.parent
    if not os.access(target, os.W_OK | os.X_OK) or str(path.resolve()).startswith(("/proc/", "/sys/")):
        raise UserError(f"{what} {path}: {target} is not writable")
    return path


def check_overlap(out: str | os.PathLike, *inputs: str | os.PathLike | None, what: str = "--out") -> None:
    """Refuse an output that is an input, lies inside one, or holds one."""
    o = Path(out).expanduser().resolve()
    for inp in inputs:
        if inp is None:
            continue
        i = Path(inp).expanduser().resolve()
        folder = i if i.is_dir() or not i.suffix else i.parent  # a manifest file stands for its folder
        if o == folder or o.is_relative_to(folder) or folder.is_relative_to(o):
            raise UserError(f"{what} {out} overlaps the input {inp}: write the output elsewhere")


def claim_dir(out: str | os.PathLike, command: str, overwrite: bool = False, inputs=(), create: bool = True,
              what: str = "--out") -> str:
    """Check the output folder ``out`` of ``command`` before any work; returns how it is used:

    ``"new"`` (absent or empty), ``"own"`` (this command's earlier output: resume or add) or ``"overwrite"`` (the
    user's ``--overwrite``: the command may replace what is there). ``create`` makes the folder and marks it."""
    out = check_writable(out, what)
    check_overlap(out, *inputs, what=what)
    if out.exists() and not out.is_dir():
        raise UserError(f"{what} {out} is a file, not a folder")
    state = "new"
    if out.is_dir() and not _is_empty_dir(out):
        if marker_command(out) == command:
            state = "own"
        elif overwrite:
            state = "overwrite"
        else:
            made = marker_command(out)
            by = f" (written by `vgen {made}`)" if made else ""
            raise UserError(f"{what} {out} is not empty{by}: choose a new folder, or pass --overwrite to replace "
                            f"what `vgen {command}` writes there")
    if create:
        out.mkdir(parents=True, exist_ok=True)
        if state != "own":
            mark(out, command)
        remove_stale_temporaries(out)
    return state


def claim_file(path: str | os.PathLike, overwrite: bool = False, what: str = "output") -> Path:
    """An output file: a folder there is refused, an existing file only replaced with ``overwrite``."""
    path = check_writable(path, what)
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not a file")
    if path.exists() and not overwrite:
        raise UserError(f"{what} {path} already exists: choose another name, or pass --overwrite")
    return path


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove what a killed run of the command left in ``folder``: vgen.io.atomic's temporaries only."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if _TEMP.match(entry.name) and not entry.is_symlink():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def free_stem(folder: str | os.PathLike, stem: str, suffixes=(".mp4", ".json")) -> str:
    """``stem``, or ``stem-2``, ``stem-3`` ... : the first whose files (one per suffix) are all absent."""
    folder = Path(folder)
    candidate, n = stem, 1
    while any((folder / f"{candidate}{s}").exists() for s in suffixes):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def next_index(folder: str | os.PathLike, pattern: str = r"^(\d{3,})-.*\.(mp4|json)$") -> int:
    """One past the highest ``NNN-`` index of the files in ``folder`` (0 for a new folder): numbering continues."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    rx = re.compile(pattern)
    found = [int(m.group(1)) for p in folder.iterdir() if (m := rx.match(p.name))]
    return max(found) + 1 if found else 0
