"""The per-example result cache: one JSON file per example, keyed by model weights, settings and text."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..errors import InputError
from ..serialise import dumps, loads
from .results import ExampleResult


def default_cache_dir() -> Path:
    """``$ATTNVIZ_CACHE_DIR``, else ``$XDG_CACHE_HOME/attnviz/audit`` (``~/.cache/attnviz/audit``)."""
    if os.environ.get("ATTNVIZ_CACHE_DIR"):
        return Path(os.environ["ATTNVIZ_CACHE_DIR"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "attnviz" / "audit"


class ResultCache:
    """One JSON file per example under ``root/<key[:2]>/<key>.json`` (an ``attnviz.ExampleResult``
    document, :mod:`attnviz.serialise`), written atomically."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> ExampleResult | None:
        path = self._path(key)
        try:
            return loads(path.read_text(encoding="utf-8"), ExampleResult)
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, InputError):
            return None  # a damaged entry (or one from an older attnviz) is recomputed

    def put(self, key: str, result: ExampleResult) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(dumps(result), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs speed
