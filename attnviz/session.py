"""Session files: one page's inputs, settings and results as a single JSON document, and back.

    {"format": "attnviz-session", "version": 1, "page": "attention",
     "model": {"name": "...", "device": "auto", "dtype": "float32"},
     "state": {"text": "...", "layer": "3", ...},      # the same strings as the page's shareable link
     "results": {"attention": {"format": "attnviz.AttentionResult", ...}},   # attnviz.serialise documents
     "created": "2026-11-25T17:00:00+00:00", "attnviz": "0.1.0"}

``state`` holds strings (lists of strings for multi-choice settings), exactly what a link carries, so a
loaded file goes through the page's own link validation (``attnviz.sharing``) before any widget sees it.
Everything a file could get wrong raises ``InputError`` with what to do: not JSON, another format,
another version, wrong types, too large.

    >>> doc = SessionFile("attention", ("m", "cpu", "float32"), {"layer": "3"}, {})
    >>> SessionFile.from_json(doc.to_json()).state
    {'layer': '3'}
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from attnviz.errors import InputError
from attnviz.serialise import dumps, from_document
from attnviz.sharing import DEVICES, DTYPES, MAX_TEXT_IN_FILE, valid_model_name
from attnviz.version import __version__

FORMAT = "attnviz-session"
VERSION = 1
MAX_BYTES = 50_000_000
"""Largest session file read (the app's uploads stop at 20 MB before that)."""
MAX_RESULT_CHARS = 15_000_000
"""Results larger than this as JSON are left out of saved files (named in ``omitted``), so a file stays
under the app's 20 MB upload limit: an attention result of 512 tokens on a 6 × 12 model is ~100 MB."""
MAX_STATE_ENTRIES = 200
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_TIME = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{5,15}(Z|[+-][0-9]{2}:[0-9]{2})?)?$")


@dataclass(frozen=True)
class SessionFile:
    """One saved analysis.

    Attributes:
        page: the page it was saved on (``"attention"``, ``"attribution"``, …).
        model: ``(name, device, dtype)``, or None for a session-only (lab) model that cannot be reloaded.
        state: the page's settings as link strings: ``{name: str | list[str]}``.
        results: ``{name: JSON document}`` of the results shown (:func:`attnviz.serialise.to_document`).
        created: ISO 8601 time of saving.
        omitted: names of results left out because they were too large.
    """

    page: str
    model: tuple[str, str, str] | None
    state: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    omitted: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.page, str) or not _NAME.match(self.page):
            raise InputError("Session file: 'page' must be a page name such as 'attention'.")
        if self.model is not None:
            if (not isinstance(self.model, tuple) or len(self.model) != 3
                    or not all(isinstance(v, str) for v in self.model)):
                raise InputError("Session file: 'model' must have a name, a device and a dtype.")
            name, device, dtype = self.model
            if not valid_model_name(name):
                raise InputError("Session file: the model name is not a Hugging Face id or directory.")
            if device not in DEVICES or dtype not in DTYPES:
                raise InputError(f"Session file: device must be one of {DEVICES} and dtype one of {DTYPES}.")
        if not isinstance(self.state, dict) or len(self.state) > MAX_STATE_ENTRIES:
            raise InputError("Session file: 'state' must be an object of settings.")
        for name, value in self.state.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise InputError("Session file: a setting has an invalid name.")
            ok = (isinstance(value, str) and len(value) <= MAX_TEXT_IN_FILE) or (
                isinstance(value, list) and len(value) <= 100
                and all(isinstance(v, str) and len(v) <= 1_000 for v in value))
            if not ok:
                raise InputError(f"Session file: setting {name!r} must be text or a list of texts.")
        if not isinstance(self.results, dict):
            raise InputError("Session file: 'results' must be an object.")
        for name, value in self.results.items():
            if not isinstance(name, str) or not _NAME.match(name) or not isinstance(value, dict):
                raise InputError("Session file: each result must be a named JSON object.")
        if not isinstance(self.created, str) or not _TIME.match(self.created):
            raise InputError("Session file: 'created' must be an ISO 8601 time stamp.")
        if not isinstance(self.omitted, tuple) or not all(isinstance(v, str) for v in self.omitted):
            raise InputError("Session file: 'omitted' must be a list of names.")

    @classmethod
    def build(cls, page: str, model: tuple[str, str, str] | None, state: dict[str, Any],
              results: dict[str, Any] | None = None) -> SessionFile:
        """A session from results (result objects, or their JSON text: ``result.to_json()``); results over
        ``MAX_RESULT_CHARS`` are left out (named in ``omitted``) so the file stays loadable."""
        kept, omitted = {}, []
        for name, result in (results or {}).items():
            text = result if isinstance(result, str) else dumps(result)
            if len(text) > MAX_RESULT_CHARS:
                omitted.append(name)
            else:
                kept[name] = json.loads(text)
        if model is not None and model[0].startswith("session:"):
            model = None
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        return cls(page, model, dict(state), kept, now, tuple(omitted))

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "version": VERSION, "attnviz": __version__, "page": self.page,
            "model": None if self.model is None else dict(zip(("name", "device", "dtype"), self.model)),
            "state": self.state, "results": self.results, "omitted": list(self.omitted), "created": self.created,
        }, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: bytes | str) -> SessionFile:
        """Read and validate a session file.

        Raises:
            InputError: too large, not UTF-8 JSON, not an attnviz session, another version, or wrong types.
        """
        if len(data) > MAX_BYTES:
            raise InputError(f"The session file is larger than {MAX_BYTES // 1_000_000} MB; attnviz does not "
                             "write files that large. Choose a session file saved by attnviz.")
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"The session file is not valid JSON ({type(exc).__name__}). Choose a .json "
                             "file saved by attnviz's 'Save session' button.") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise InputError("This JSON file is not an attnviz session (its 'format' is not "
                             f"'{FORMAT}'). Choose a file saved by attnviz's 'Save session' button.")
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version != VERSION:
            shown = f"version {version}" if isinstance(version, int) and not isinstance(version, bool) else (
                "no valid version")  # file content is never echoed into the page's markdown
            raise InputError(f"This session file has {shown}; this attnviz reads version {VERSION}. Save the "
                             "session again with this version of attnviz.")
        model = doc.get("model")
        if model is not None:
            if not isinstance(model, dict):
                raise InputError("Session file: 'model' must be an object with name, device and dtype.")
            model = (model.get("name"), model.get("device"), model.get("dtype"))
        omitted = doc.get("omitted", [])
        if not isinstance(omitted, list):
            raise InputError("Session file: 'omitted' must be a list of names.")
        return cls(doc.get("page"), model, doc.get("state", {}), doc.get("results", {}),
                   doc.get("created", ""), tuple(omitted))

    def result(self, name: str, kind: type):
        """A stored result rebuilt as ``kind`` (a result class, e.g. ``AttentionResult``), or None when absent.

        Raises:
            InputError: the stored result is not a ``kind`` or does not validate as one.
        """
        if name not in self.results:
            return None
        try:
            return from_document(self.results[name], kind)
        except InputError as exc:
            raise InputError(f"Session file: the stored {name!r} result is damaged ({exc}).") from None
