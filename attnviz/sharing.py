"""Page state as strings: what a shareable link (``?layer=3&head=7&text=…``) and a session file carry.

Streamlit-free, so the parsing and validation rules are tested on their own; ``attnviz.ui.share_state``
applies them to widget keys. Every value read from a link or a file is checked against its parameter's
type and range: a bad value is reported (by name, never echoed) and ignored, never passed to a widget.

    >>> layer = StateParam.integer("layer", "attention_layer", 0, 5)
    >>> values, rejected = parse_state([layer], {"layer": ["3"]})
    >>> values, rejected
    ({'attention_layer': 3}, [])
    >>> dump_state([layer], {"attention_layer": 3})
    {'layer': '3'}
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attnviz.errors import InputError

MAX_TEXT_IN_LINK = 2_000
"""Longer texts are left out of links (browsers and proxies cut long URLs); session files keep them."""
MAX_TEXT_IN_FILE = 100_000
"""Session files keep texts up to the longest the text boxes accept."""
MAX_MODEL_NAME = 300
_MODEL_NAME = re.compile(r"^[\w.\-/~:\\ ]+$")
"""Hub ids and plain paths: no markdown or HTML characters, since a link's model name appears in messages."""
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "float16", "bfloat16")
MODEL_PARAMS = ("model", "device", "dtype")
"""App-level link parameters (the model picker); every page's link carries them."""
RESERVED = {"embed", "embed_options"}
"""Streamlit's own query parameters: never written or removed by attnviz."""

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True)
class StateParam:
    """One widget value that a link carries.

    Attributes:
        name: the query-parameter name (short, stable: links are shared).
        key: the ``st.session_state`` key of the widget it fills.
        kind: ``"text"``, ``"int"``, ``"float"``, ``"bool"``, ``"choice"`` (one of ``options``),
            ``"choices"`` (several of ``options``; repeated in the URL: ``?method=a&method=b``) or
            ``"model"`` (a second model's name: empty, or a hub id / plain path as ``valid_model_name``).
        options: allowed values for ``choice``/``choices`` (any type; matched by ``str()``).
        low, high: inclusive range for ``int``/``float``.
        max_chars: longest text accepted from a link or a file.
        default: a value equal to it is left out of the link (short links; absent = default).
    """

    name: str
    key: str
    kind: str
    options: tuple = ()
    low: float | None = None
    high: float | None = None
    max_chars: int = MAX_TEXT_IN_LINK
    default: Any = None

    def __post_init__(self):
        if self.kind not in ("text", "int", "float", "bool", "choice", "choices", "model"):
            raise ValueError(f"unknown StateParam kind {self.kind!r}")
        if self.kind in ("choice", "choices") and not self.options:
            raise ValueError(f"StateParam {self.name!r} needs options")
        if self.name in RESERVED or self.name in MODEL_PARAMS:
            raise ValueError(f"{self.name!r} is a reserved query parameter")

    # ------------------------------------------------------------ builders
    @classmethod
    def text(cls, name: str, key: str, *, max_chars: int = MAX_TEXT_IN_LINK, default: str | None = None):
        return cls(name, key, "text", max_chars=max_chars, default=default)

    @classmethod
    def model(cls, name: str, key: str, *, default: str | None = ""):
        """A model name typed on a page (e.g. Compare two's model B): empty or a hub id / plain path."""
        return cls(name, key, "model", max_chars=MAX_MODEL_NAME, default=default)

    @classmethod
    def integer(cls, name: str, key: str, low: int, high: int, *, default: int | None = None):
        return cls(name, key, "int", low=low, high=high, default=default)

    @classmethod
    def number(cls, name: str, key: str, low: float, high: float, *, default: float | None = None):
        return cls(name, key, "float", low=low, high=high, default=default)

    @classmethod
    def boolean(cls, name: str, key: str, *, default: bool | None = False):
        return cls(name, key, "bool", default=default)

    @classmethod
    def choice(cls, name: str, key: str, options: Iterable, *, default: Any = None):
        return cls(name, key, "choice", options=tuple(options), default=default)

    @classmethod
    def choices(cls, name: str, key: str, options: Iterable, *, default: Sequence | None = None):
        return cls(name, key, "choices", options=tuple(options), default=None if default is None else list(default))

    # ------------------------------------------------------------ strings
    def parse(self, raw: str | Sequence[str], *, in_file: bool = False) -> Any:
        """The widget value for a query-parameter value (a string, or a list for ``choices``).

        ``in_file``: the value comes from a session file, where texts may be up to ``MAX_TEXT_IN_FILE``.

        Raises:
            InputError: the value has the wrong type, is out of range, not an option or too long.
        """
        values = [raw] if isinstance(raw, str) else list(raw)
        if not all(isinstance(v, str) for v in values):
            raise InputError(f"{self.name}: expected text.")
        if self.kind == "choices":
            by_text = {str(o): o for o in self.options}
            if len(values) > len(by_text) or any(v not in by_text for v in values):
                raise InputError(f"{self.name}: not one of the offered options.")
            return list(dict.fromkeys(by_text[v] for v in values))
        if not values:
            raise InputError(f"{self.name}: no value.")
        value = values[-1]
        if len(value) > (MAX_TEXT_IN_FILE if in_file else max(self.max_chars, 64)):
            raise InputError(f"{self.name}: too long.")
        if self.kind == "text":
            if "\x00" in value:
                raise InputError(f"{self.name}: contains a NUL character.")
            return value
        if self.kind == "model":
            if value.strip() and not valid_model_name(value):
                raise InputError(f"{self.name}: not a Hugging Face id or a plain directory path.")
            return value
        if self.kind == "bool":
            if value.strip().lower() in _TRUE:
                return True
            if value.strip().lower() in _FALSE:
                return False
            raise InputError(f"{self.name}: expected 1 or 0.")
        if self.kind == "choice":
            for option in self.options:
                if str(option) == value:
                    return option
            raise InputError(f"{self.name}: not one of the offered options.")
        try:
            number = int(value) if self.kind == "int" else float(value)
        except ValueError:
            raise InputError(f"{self.name}: expected a number.") from None
        if not math.isfinite(number) or (self.low is not None and number < self.low) or (
                self.high is not None and number > self.high):
            raise InputError(f"{self.name}: out of range.")
        return number

    def dump(self, value: Any, *, in_file: bool = False) -> str | list[str] | None:
        """The query-parameter value for a widget value; None = leave it out (a default, or a text too long
        for a link; ``in_file`` keeps texts up to ``MAX_TEXT_IN_FILE``)."""
        if value is None or value == self.default:
            return None
        if self.kind == "choices":
            return [str(v) for v in value]
        if self.kind == "bool":
            return "1" if value else "0"
        text = str(value)
        if self.kind == "text" and len(text) > (MAX_TEXT_IN_FILE if in_file else self.max_chars):
            return None
        if self.kind == "model" and text.strip() and not valid_model_name(text):
            return None  # a session-only (lab) model or an odd name: never written to a link or a file
        return text


def parse_state(params: Iterable[StateParam], query: Mapping[str, str | Sequence[str]], *,
                in_file: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Widget values (by session-state key) for the parameters present in ``query``, and the names of
    those whose value was rejected (they are left out)."""
    values, rejected = {}, []
    for param in params:
        if param.name not in query:
            continue
        try:
            values[param.key] = param.parse(query[param.name], in_file=in_file)
        except InputError:
            rejected.append(param.name)
    return values, rejected


def dump_state(params: Iterable[StateParam], state: Mapping[str, Any], *,
               in_file: bool = False) -> dict[str, str | list[str]]:
    """Query parameters (by name) for the widget values in ``state`` (by key); defaults are left out."""
    out = {}
    for param in params:
        if param.key in state:
            dumped = param.dump(state[param.key], in_file=in_file)
            if dumped is not None:
                out[param.name] = dumped
    return out


def parse_model(query: Mapping[str, str | Sequence[str]], default: tuple[str, str, str]
                ) -> tuple[tuple[str, str, str] | None, list[str]]:
    """The model key ``(name, device, dtype)`` a link asks for (None when it names none) and rejected names.

    Session-only models (``session:…``) are never accepted from a link; names are hub ids or plain paths
    (letters, digits, ``. - _ / ~ : \\`` and spaces) of at most ``MAX_MODEL_NAME`` characters.
    """
    def last(name):
        raw = query.get(name)
        if raw is None:
            return None
        return raw if isinstance(raw, str) else (list(raw)[-1] if list(raw) else "")

    name, device, dtype = last("model"), last("device"), last("dtype")
    if name is None and device is None and dtype is None:
        return None, []
    rejected = []
    if name is not None and not valid_model_name(name):
        rejected.append("model")
        name = None
    if device is not None and device not in DEVICES:
        rejected.append("device")
        device = None
    if dtype is not None and dtype not in DTYPES:
        rejected.append("dtype")
        dtype = None
    if name is None and device is None and dtype is None:
        return None, rejected
    return (name.strip() if name else default[0], device or default[1], dtype or default[2]), rejected


def valid_model_name(name: str) -> bool:
    """A model name a link or a session file may carry: a hub id or a plain path, never a session model."""
    return (isinstance(name, str) and bool(name.strip()) and len(name) <= MAX_MODEL_NAME
            and not name.startswith("session:") and bool(_MODEL_NAME.match(name)))


def dump_model(key: tuple[str, str, str], default: tuple[str, str, str]) -> dict[str, str]:
    """Query parameters for a model key; the default model is left out, session-only models too."""
    name, device, dtype = key
    if name.startswith("session:"):
        return {}
    out = {}
    if name != default[0]:
        out["model"] = name
    if device != default[1]:
        out["device"] = device
    if dtype != default[2]:
        out["dtype"] = dtype
    return out
