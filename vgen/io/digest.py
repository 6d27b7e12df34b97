"""File digests for provenance (sidecars, engine manifests): one sha256, read in 4 MiB blocks."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256(path: str | Path, cache: dict | None = None) -> str:
    """The file's sha256 (hex); ``cache`` (keyed by path, size and mtime) spares rehashing multi-GB weights."""
    path = Path(path)
    key = None
    if cache is not None:
        st = path.stat()
        key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        if key in cache:
            return cache[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    if key is not None:
        cache[key] = digest
    return digest
