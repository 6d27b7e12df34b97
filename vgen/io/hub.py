"""Weights named by a Hugging Face hub id (``org/name``, or ``org/name@revision``), as diffusers users name them.

The local HF cache answers first (``HF_HOME`` / ``HF_HUB_CACHE``, the snapshot layout
``models--org--name/snapshots/<rev>/`` + ``refs/<revision>``), so a cached model needs no network; otherwise the
snapshot is downloaded, unless ``HF_HUB_OFFLINE`` is set. The environment is read at each call (huggingface_hub reads
it once, at import). An existing local folder always wins over a hub id of the same spelling.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vgen import console
from vgen.errors import UserError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*(@[\w./-]+)?$")
_TRUE = {"1", "true", "yes", "on"}


def is_hub_id(value) -> bool:
    """``org/name`` or ``org/name@revision`` (two parts; not an absolute, ./ or ../ path)."""
    return isinstance(value, (str, Path)) and bool(_HUB_ID.match(str(value)))


def cache_dir() -> str | None:
    """The hub cache the environment names now (None: huggingface_hub's default)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def resolve_weights(weights):
    """``weights`` as given when it is None or exists on disk or is no hub id; else its local snapshot folder."""
    if weights is None or Path(weights).exists() or not is_hub_id(weights):
        return weights
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:
        raise UserError(f"--weights {weights}: a hub id needs huggingface_hub (pip install huggingface_hub)") from None
    repo, _, revision = str(weights).partition("@")
    kwargs = {"revision": revision or None, "cache_dir": cache_dir()}
    try:
        return Path(snapshot_download(repo, local_files_only=True, **kwargs))
    except LocalEntryNotFoundError:
        if offline():
            raise UserError(f"--weights {weights}: not in the Hugging Face cache ({cache_dir() or 'default'}) and "
                            "HF_HUB_OFFLINE is set; download it where a network exists "
                            f"(huggingface-cli download {repo})") from None
    console.info(f"downloading {weights} from the Hugging Face hub")
    try:
        return Path(snapshot_download(repo, **kwargs))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--weights {weights}: neither a folder nor a hub model that could be fetched ({first})") \
            from None
