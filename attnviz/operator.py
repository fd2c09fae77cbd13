"""Operator settings for a shared server: which models may load, how big, how many heavy jobs at once.

Read from environment variables only (set by whoever launches the server), never from the browser:

- ``ATTNVIZ_ALLOWED_MODELS``: hub ids or glob patterns, comma-separated (``bert-*,google/*``); ``*`` for
  every hub id. The bundled model is always allowed.
- ``ATTNVIZ_MODEL_DIRS``: the roots local model directories may come from, separated like PATH.
- ``ATTNVIZ_MAX_MODEL_BYTES``: the largest model (weights on disk, or on the hub before a download).
- ``ATTNVIZ_MAX_JOBS``: heavy jobs (attention, attribution, bias, audit, lab training) running at once.
- ``ATTNVIZ_REQUIRE_LOGIN``: ``1`` makes every page ask for Streamlit's sign-in (``st.login``, OIDC, configured in
  ``.streamlit/secrets.toml`` ``[auth]``) before anything else runs.
- ``ATTNVIZ_RESULT_CACHE_BYTES`` / ``ATTNVIZ_MODEL_CACHE_BYTES``: the memory budgets of the app's caches of
  results and of loaded models (least recently used out first).

With none of them set and the server on localhost, nothing is restricted (the app behaves as it always
did). When the server listens beyond localhost (``ATTNVIZ_SHARED=1``, which the app sets itself from
Streamlit's ``server.address``) the defaults close: only the bundled model, no hub id and no directory,
until the operator lists what is allowed.

A refused name gets one message, built from the operator's settings and the name as typed, the same for
an existing and a missing path: nothing is looked up on disk before the name is allowed.

Example:
    >>> policy = ModelPolicy.from_env({"ATTNVIZ_ALLOWED_MODELS": "bert-*", "ATTNVIZ_MODEL_DIRS": "/srv/models"})
    >>> policy.check_name("bert-base-uncased")
    >>> policy.check_name("gpt2")
    Traceback (most recent call last):
    ...
    attnviz.errors.ModelLoadError: 'gpt2' is not allowed on this server. The operator allows: the bundled model; hub models matching bert-*; directories under /srv/models.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ModelLoadError

ALLOWED_MODELS_ENV = "ATTNVIZ_ALLOWED_MODELS"
MODEL_DIRS_ENV = "ATTNVIZ_MODEL_DIRS"
MAX_MODEL_BYTES_ENV = "ATTNVIZ_MAX_MODEL_BYTES"
MAX_JOBS_ENV = "ATTNVIZ_MAX_JOBS"
SHARED_ENV = "ATTNVIZ_SHARED"
REQUIRE_LOGIN_ENV = "ATTNVIZ_REQUIRE_LOGIN"
RESULT_CACHE_BYTES_ENV = "ATTNVIZ_RESULT_CACHE_BYTES"
MODEL_CACHE_BYTES_ENV = "ATTNVIZ_MODEL_CACHE_BYTES"
DEFAULT_RESULT_CACHE_BYTES = 1 << 30  # 1 GiB of cached results
DEFAULT_MODEL_CACHE_BYTES = 4 << 30  # 4 GiB of loaded weights
#: heavy jobs at once when the operator sets nothing: the machine's cores (at least 1), but at most 4
DEFAULT_MAX_JOBS = max(1, min(4, os.cpu_count() or 1))

_TRUE = {"1", "true", "yes", "on"}
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """``"2GB"``, ``"500MiB"``, ``"123456"`` → bytes (ValueError on anything else).

    >>> parse_bytes("1.5 GB"), parse_bytes("2 GiB"), parse_bytes("42")
    (1500000000, 2147483648, 42)
    """
    raw = text.strip().lower().replace(" ", "")
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number):]
    if unit not in _UNITS or not number:
        raise ValueError(f"not a size: {text!r} (use bytes or a unit: 500MB, 2GB, 4GiB)")
    value = float(number) * _UNITS[unit]
    if value <= 0:
        raise ValueError(f"a size must be positive: {text!r}")
    return int(value)


def is_shared(environ: Mapping[str, str] | None = None) -> bool:
    """True when the server listens beyond localhost (the app sets ``ATTNVIZ_SHARED`` at launch)."""
    env = os.environ if environ is None else environ
    return env.get(SHARED_ENV, "").strip().lower() in _TRUE


def require_login(environ: Mapping[str, str] | None = None) -> bool:
    """True when the operator requires Streamlit's sign-in on every page (``ATTNVIZ_REQUIRE_LOGIN=1``).

    >>> require_login({"ATTNVIZ_REQUIRE_LOGIN": "yes"}), require_login({})
    (True, False)
    """
    env = os.environ if environ is None else environ
    return env.get(REQUIRE_LOGIN_ENV, "").strip().lower() in _TRUE


def looks_like_path(name: str) -> bool:
    """A directory rather than a hub id: decided from the text alone (the disk is never asked).

    >>> looks_like_path("bert-base-uncased"), looks_like_path("google/bert"), looks_like_path("./m")
    (False, False, True)
    >>> looks_like_path("/srv/models/bert"), looks_like_path("a/b/c"), looks_like_path("~/m")
    (True, True, True)
    """
    text = name.strip()
    return (text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text
            or (os.sep != "/" and os.sep in text) or (len(text) > 1 and text[1] == ":"))


@dataclass(frozen=True)
class ModelPolicy:
    """What models the operator lets this process load.

    ``allowed_models``/``model_dirs`` None means unrestricted (localhost, nothing set); an empty tuple
    means none (beyond the bundled model). ``max_model_bytes`` None means no size limit.
    """

    allowed_models: tuple[str, ...] | None = None
    model_dirs: tuple[str, ...] | None = None
    max_model_bytes: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ModelPolicy:
        """The operator's settings; a malformed size is a ValueError (the server should not start)."""
        env = os.environ if environ is None else environ
        shared = is_shared(env)
        allowed = env.get(ALLOWED_MODELS_ENV)
        dirs = env.get(MODEL_DIRS_ENV)
        size = env.get(MAX_MODEL_BYTES_ENV, "").strip()
        patterns = None if allowed is None and not shared else tuple(
            p.strip() for p in (allowed or "").split(",") if p.strip())
        roots = None if dirs is None and not shared else tuple(
            os.path.realpath(os.path.expanduser(d.strip())) for d in (dirs or "").split(os.pathsep) if d.strip())
        return cls(patterns, roots, parse_bytes(size) if size else None)

    @property
    def restricted(self) -> bool:
        return self.allowed_models is not None or self.model_dirs is not None or self.max_model_bytes is not None

    def describe(self) -> str:
        """What the operator allows, in one line (shown in refusals and in the sidebar)."""
        parts = ["the bundled model"]
        if self.allowed_models is None:
            parts.append("any hub model")
        elif "*" in self.allowed_models:
            parts.append("any hub model")
        elif self.allowed_models:
            parts.append("hub models matching " + ", ".join(self.allowed_models))
        if self.model_dirs is None:
            parts.append("any local directory")
        elif self.model_dirs:
            parts.append("directories under " + ", ".join(self.model_dirs))
        text = "; ".join(parts)
        if self.max_model_bytes is not None:
            text += f"; at most {self.max_model_bytes / 1e9:.3g} GB of weights"
        return text

    def refusal(self, name: str) -> ModelLoadError:
        shown = name.strip()[:120]
        return ModelLoadError(f"'{shown}' is not allowed on this server. The operator allows: {self.describe()}.")

    def check_name(self, name: str) -> None:
        """Raise :class:`ModelLoadError` unless ``name`` (not the bundled model) is allowed.

        Decided from the text and the operator's settings only: a missing and an existing path outside
        the roots get the same message. Directories are compared after resolving ``..`` and symlinks.
        """
        if looks_like_path(name):
            if self.model_dirs is None:
                return
            real = os.path.realpath(os.path.expanduser(name.strip()))
            if any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in self.model_dirs):
                return
            raise self.refusal(name)
        if self.allowed_models is None:
            return
        if any(fnmatch.fnmatchcase(name.strip(), pattern) for pattern in self.allowed_models):
            return
        raise self.refusal(name)

    def check_size(self, name: str, nbytes: int | None) -> None:
        """Raise :class:`ModelLoadError` when the model's weights are over the operator's limit."""
        if self.max_model_bytes is None or nbytes is None or nbytes <= self.max_model_bytes:
            return
        raise ModelLoadError(f"'{name.strip()[:120]}' has {nbytes / 1e9:.3g} GB of weights; this server allows at "
                             f"most {self.max_model_bytes / 1e9:.3g} GB ({MAX_MODEL_BYTES_ENV}).")


def max_jobs(environ: Mapping[str, str] | None = None) -> int:
    """Heavy jobs at once (``ATTNVIZ_MAX_JOBS``; default :data:`DEFAULT_MAX_JOBS`)."""
    env = os.environ if environ is None else environ
    raw = env.get(MAX_JOBS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_JOBS
    value = int(raw)
    if value < 1:
        raise ValueError(f"{MAX_JOBS_ENV} must be at least 1, not {raw!r}")
    return value


def cache_bytes(kind: str, environ: Mapping[str, str] | None = None) -> int:
    """The byte budget of the app's cache of ``"results"`` or ``"models"`` (operator's setting or default).

    >>> cache_bytes("results", {"ATTNVIZ_RESULT_CACHE_BYTES": "256MB"})
    256000000
    """
    env = os.environ if environ is None else environ
    name, default = {"results": (RESULT_CACHE_BYTES_ENV, DEFAULT_RESULT_CACHE_BYTES),
                     "models": (MODEL_CACHE_BYTES_ENV, DEFAULT_MODEL_CACHE_BYTES)}[kind]
    raw = env.get(name, "").strip()
    return parse_bytes(raw) if raw else default
