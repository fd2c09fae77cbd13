"""One serialiser for every result: versioned JSON documents with compact arrays.

Every result class is a frozen dataclass registered with :func:`serialisable`; :func:`dumps` /
:func:`loads` turn it into JSON text and back, :func:`to_document` / :func:`from_document` into a
plain ``dict`` for embedding in a larger document (session files, the audit cache). The
:class:`Serialisable` mixin gives each class ``to_json``/``from_json``/``to_dict``/``from_dict``.

A document::

    {"format": "attnviz.AttentionResult", "version": 1,
     "tokens": ["[CLS]", "hi", "[SEP]"],
     "attentions": {"__ndarray__": true, "dtype": "float32", "shape": [6, 12, 3, 3], "data": "<base64>"},
     "layers": [0, 1, 2, 3, 4, 5], "decoder_tokens": null, "meta": {"device": "cpu"}, ...}

Every dataclass field is written under its own name and rebuilt from the field's type hint:

* numpy arrays: ``{"__ndarray__": true, "dtype", "shape", "data"}`` — the raw little-endian bytes in
  base64 (4/3 of the array's bytes; a float written as a JSON number costs ~20 bytes). Numeric and
  bool dtypes only; dtype and shape survive bit for bit (float16, ints, NaN included).
* tuples (``tuple[str, ...]``, ``tuple[tuple[str, tuple[int, ...]], ...]``): JSON lists.
* nested dataclasses: their fields as an object; registered ones carry their own format and version.
* pandas DataFrames (a field hinted ``pd.DataFrame``): a list of row records, readable as it is, with
  the column names and dtypes under the document's ``"schema"`` key (row labels are not kept).
* floats: JSON numbers; NaN and ±inf as ``{"__float__": "nan" | "inf" | "-inf"}`` (the text is
  strict JSON, so browsers and other tools can read it).
* untyped values (``dict`` fields such as ``settings``): JSON as it is, numpy scalars as Python
  numbers, arrays and non-finite floats as above, tuples as ``{"__tuple__": [...]}``, registered
  results as their documents. Anything else is written as ``str(value)`` (lossy; e.g. a target
  object inside ``settings``).

Versions: a class's ``version`` goes up whenever its document changes shape. Older documents are
read through the class's ``upgrades``: ``{old_version: function(doc, cls) -> doc of old_version + 1}``,
applied in turn. :func:`upgrade_legacy_v1` reads the hand-written version-1 documents of the
releases before this module (arrays as plain lists or untyped base64, nested results as JSON text).
A document from a newer attnviz, another format, bad JSON, wrong types or missing fields is an
:class:`~attnviz.errors.InputError` with a message that says what to do (document content is never
echoed into it); nothing else is raised while reading.

    >>> from dataclasses import dataclass
    >>> @serialisable(version=1)
    ... @dataclass(frozen=True)
    ... class Example(Serialisable):
    ...     tokens: tuple[str, ...]
    ...     scores: np.ndarray
    >>> again = loads(dumps(Example(("a", "b"), np.array([0.5, np.nan], np.float16))))
    >>> again.tokens, again.scores.dtype
    (('a', 'b'), dtype('float16'))
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import InputError

PREFIX = "attnviz."
"""Every result document's ``format`` is this plus the class name."""
RESERVED = ("format", "version", "schema")
"""Document keys that are not fields."""
DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                    "float16", "float32", "float64", "complex64", "complex128"})
"""Array dtypes written and read (never object arrays: a document cannot run code)."""
_ARRAY, _FLOAT, _TUPLE = "__ndarray__", "__float__", "__tuple__"
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

Upgrade = Callable[[dict, type], dict]


@dataclasses.dataclass(frozen=True)
class _Spec:
    cls: type
    name: str
    version: int
    exclude: frozenset
    derived: Mapping[str, Callable[[Any], Any]]
    upgrades: Mapping[int, Upgrade]


_REGISTRY: dict[str, _Spec] = {}
_BY_CLASS: dict[type, _Spec] = {}
_HINTS: dict[type, dict] = {}


class _Invalid(Exception):
    """A document does not fit its class (becomes an InputError naming the class)."""


# ------------------------------------------------------------------ registration
def serialisable(version: int = 1, *, name: str | None = None, exclude=(), derived=None, upgrades=None):
    """Class decorator: register a dataclass as a result with a versioned document.

    Args:
        version: the document version this code writes (raise it when the document changes shape,
            and add an upgrade from the old one).
        name: the name in ``format`` (default: the class name).
        exclude: fields not written (on reading they take their defaults).
        derived: ``{key: function(result)}`` extra values written for people reading the file
            (e.g. a description of a code); ignored on reading.
        upgrades: ``{old_version: function(doc, cls) -> doc}`` turning a document of ``old_version``
            into one of ``old_version + 1`` (see :func:`upgrade_legacy_v1`).
    """
    def register(cls):
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass to be serialisable")
        key = name or cls.__name__
        names, extra = {f.name for f in dataclasses.fields(cls)}, set(derived or ())
        clash = ((names | extra) & set(RESERVED)) | (names & extra)
        if clash:
            raise TypeError(f"{cls.__name__}: {sorted(clash)} are reserved document keys or fields")
        old = _REGISTRY.get(key)
        if old is not None and (old.cls.__module__, old.cls.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"two result classes are registered as {PREFIX}{key}")
        spec = _Spec(cls, key, int(version), frozenset(exclude), dict(derived or {}), dict(upgrades or {}))
        _REGISTRY[key] = spec
        _BY_CLASS[cls] = spec
        return cls

    return register


class Serialisable:
    """``to_json``/``from_json``/``to_dict``/``from_dict`` for a class registered with :func:`serialisable`."""

    __slots__ = ()

    def to_json(self) -> str:
        """This result as one JSON document (see :mod:`attnviz.serialise`)."""
        return dumps(self)

    @classmethod
    def from_json(cls, text: str | bytes):
        """The result from :meth:`to_json`'s text. Raises InputError for anything else."""
        return loads(text, cls)

    def to_dict(self) -> dict:
        """This result as a JSON-ready document (``json.dumps`` it, or embed it in a larger one)."""
        return to_document(self)

    @classmethod
    def from_dict(cls, doc: dict):
        """The result from :meth:`to_dict`'s document. Raises InputError for anything else."""
        return from_document(doc, cls)


def registered() -> dict[str, type]:
    """``{format: class}`` of every result class imported so far."""
    return {PREFIX + key: spec.cls for key, spec in _REGISTRY.items()}


# ------------------------------------------------------------------ public API
def dumps(result) -> str:
    """``result`` as strict JSON text (no NaN literals; non-ASCII escaped)."""
    return json.dumps(to_document(result), separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes, cls: type | None = None):
    """The result in ``text`` (its class found from ``format`` when ``cls`` is None).

    Raises:
        InputError: not JSON, not an attnviz result (or not a ``cls``), a newer version, or a
            document whose fields do not fit the class.
    """
    try:
        doc = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError, TypeError) as exc:
        raise InputError(f"This is not a valid attnviz result: the text is not JSON ({type(exc).__name__}). "
                         "Choose a file that attnviz saved.") from None
    return from_document(doc, cls)


def to_document(result) -> dict:
    """``result`` (of a registered class) as a JSON-ready ``dict`` with ``format`` and ``version``."""
    spec = _BY_CLASS.get(type(result))
    if spec is None:
        raise TypeError(f"{type(result).__name__} is not a registered result class (use @serialisable)")
    return _encode_dataclass(result, spec)


def from_document(doc, cls: type | None = None):
    """Rebuild a result from :func:`to_document`'s ``dict`` (older versions are upgraded first).

    Raises:
        InputError: as :func:`loads`.
    """
    if cls is None:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        spec = _REGISTRY.get(fmt[len(PREFIX):]) if isinstance(fmt, str) and fmt.startswith(PREFIX) else None
        if spec is None:
            raise InputError("This is not an attnviz result (no known 'format'). Choose a file that attnviz "
                             "saved, or import the module that defines the result first.")
    else:
        spec = _BY_CLASS.get(cls)
        if spec is None:
            raise TypeError(f"{cls.__name__} is not a registered result class (use @serialisable)")
    _check_format(doc, spec)
    try:
        return _decode_dataclass(doc, spec.cls, spec.name)
    except _Invalid as exc:
        raise InputError(f"This attnviz {spec.name} cannot be read: {exc}. The file is damaged or was "
                         "edited; save the result again.") from None
    except RecursionError:
        raise InputError(f"This attnviz {spec.name} cannot be read: it is nested too deeply.") from None


def array_document(arr) -> dict:
    """One array as ``{"__ndarray__": true, "dtype", "shape", "data"}`` (little-endian bytes, base64)."""
    arr = np.asarray(arr)
    if arr.dtype.name not in DTYPES:
        raise TypeError(f"cannot serialise a {arr.dtype} array (numeric and bool dtypes only)")
    little = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return {_ARRAY: True, "dtype": arr.dtype.name, "shape": list(arr.shape),
            "data": base64.b64encode(little.tobytes()).decode("ascii")}


def plain(value):
    """JSON for people (lossy): arrays as lists, numpy scalars as numbers, NaN and ±inf as null.

    For records such as report.json, where readers expect plain numbers; results use :func:`dumps`.
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def upgrade_legacy_v1(doc: dict, cls: type) -> dict:
    """Version 1 → 2 for documents written by the hand-written ``to_json`` methods before this module.

    Guided by the class's type hints: an array field written as a plain (nested) list, or as
    ``{"shape", "data"}`` base64 float32 without a dtype, becomes an array document (float32); a
    nested result written as JSON text is parsed. Everything else was already written the same way.
    """
    doc = dict(doc)
    for name, hint in _hints(cls).items():
        value = doc.get(name)
        if value is None:
            continue
        hint = _strip_none(hint)
        if hint is np.ndarray and isinstance(value, list):
            doc[name] = array_document(np.asarray(value, dtype=np.float32))
        elif hint is np.ndarray and isinstance(value, dict) and _ARRAY not in value:
            raw = np.frombuffer(base64.b64decode(value["data"]), dtype="<f4")
            doc[name] = array_document(raw.reshape(value["shape"]))
        elif dataclasses.is_dataclass(hint) and isinstance(value, str):
            doc[name] = json.loads(value)
    return doc


# ------------------------------------------------------------------ encoding
def _encode_dataclass(obj, spec: _Spec | None) -> dict:
    doc: dict = {}
    if spec is not None:
        doc.update(format=PREFIX + spec.name, version=spec.version)
    hints = _hints(type(obj))
    schema = {}
    for f in dataclasses.fields(obj):
        if spec is not None and f.name in spec.exclude:
            continue
        value, hint = getattr(obj, f.name), _strip_none(hints.get(f.name, Any))
        if value is not None and _is_frame_type(hint) and _is_frame(value):
            doc[f.name], schema[f.name] = _encode_frame(value)
        else:
            doc[f.name] = _encode(value, hint)
    if schema:
        doc["schema"] = schema
    for key, function in (spec.derived.items() if spec is not None else ()):
        doc[key] = _encode_any(function(obj))
    return doc


def _encode(value, hint):
    if value is None:
        return None
    hint = _strip_none(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is np.ndarray:
        return array_document(value)
    if (hint is tuple or origin is tuple or hint is list or origin is list) and isinstance(value, (tuple, list)):
        if len(args) == 2 and args[1] is Ellipsis:
            return [_encode(v, args[0]) for v in value]
        if args and len(args) == len(value) and origin is tuple:
            return [_encode(v, a) for v, a in zip(value, args)]
        return [_encode(v, args[0] if origin is list and args else Any) for v in value]
    if (hint is dict or origin is dict) and isinstance(value, Mapping):
        value_hint = args[1] if len(args) == 2 else Any
        return {str(k): _encode(v, value_hint) for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and dataclasses.is_dataclass(value):
        return _encode_dataclass(value, _BY_CLASS.get(type(value)))
    if hint is float and isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return _encode_float(float(value))
    return _encode_any(value)


def _encode_float(value: float):
    if math.isfinite(value):
        return value
    return {_FLOAT: "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def _encode_any(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return _encode_float(float(value))
    if isinstance(value, np.ndarray):
        return array_document(value)
    if isinstance(value, tuple):
        return {_TUPLE: [_encode_any(v) for v in value]}
    if isinstance(value, list):
        return [_encode_any(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode_any(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value, _BY_CLASS.get(type(value)))
    if _is_frame(value):
        return _encode_frame(value)[0]
    return str(value)


def _encode_frame(frame) -> tuple[list[dict], list[list[str]]]:
    names = [str(c) for c in frame.columns]
    columns = [[n, str(d)] for n, d in zip(names, frame.dtypes)]
    rows = [{n: _encode_cell(v) for n, v in zip(names, row)} for row in frame.itertuples(index=False, name=None)]
    return rows, columns


def _encode_cell(value):
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return None  # restored from the column's dtype
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return _encode_any(value)


# ------------------------------------------------------------------ decoding
def _check_format(doc, spec: _Spec) -> None:
    """InputError unless ``doc`` is a document of ``spec``'s class at a version this code reads."""
    expected = PREFIX + spec.name
    if not isinstance(doc, dict) or doc.get("format") != expected:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        other = fmt[len(PREFIX):] if isinstance(fmt, str) and fmt.startswith(PREFIX) else None
        what = f"it is an attnviz {other}" if other in _REGISTRY else f"its 'format' is not '{expected}'"
        raise InputError(f"This is not an attnviz {spec.name} ({what}). Choose a {spec.name} saved by attnviz.")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"This attnviz {spec.name} has no valid 'version'. Save the result again.")
    if version > spec.version:
        raise InputError(f"This {spec.name} was saved by a newer attnviz (version {version}; this one reads up "
                         f"to {spec.version}). Update attnviz to read it.")
    if version < spec.version and any(v not in spec.upgrades for v in range(version, spec.version)):
        raise InputError(f"This {spec.name} has version {version}, which this attnviz no longer reads. Save "
                         "the result again.")


def _upgrade(doc: dict, spec: _Spec) -> dict:
    for version in range(doc["version"], spec.version):
        try:
            doc = dict(spec.upgrades[version](doc, spec.cls))
        except Exception as exc:  # an old document that does not fit its old layout
            raise _Invalid(f"it could not be upgraded from version {version} ({type(exc).__name__})") from None
        doc["version"] = version + 1
    return doc


def _decode_dataclass(doc, cls: type, where: str):
    if not isinstance(doc, dict):
        raise _Invalid(f"{where} must be an object")
    spec = _BY_CLASS.get(cls)
    if spec is not None:
        try:
            _check_format(doc, spec)
        except InputError as exc:
            raise _Invalid(f"{where}: {exc}") from None
        doc = _upgrade(doc, spec)
    hints = _hints(cls)
    schema = doc.get("schema", {})
    if not isinstance(schema, dict):
        raise _Invalid(f"{where}.schema must be an object")
    kwargs, known = {}, set(RESERVED) | set(spec.derived if spec else ())
    for f in dataclasses.fields(cls):
        known.add(f.name)
        if not f.init or (spec is not None and f.name in spec.exclude):
            continue
        path = f"{where}.{f.name}"
        if f.name not in doc:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _Invalid(f"the field '{path}' is missing")
            continue
        value, hint = doc[f.name], hints.get(f.name, Any)
        frame_type = _strip_none(hint)
        if value is not None and _is_frame_type(frame_type):
            kwargs[f.name] = _decode_frame(value, frame_type, schema.get(f.name), path)
        else:
            kwargs[f.name] = _decode(value, hint, path)
    unknown = [k for k in doc if k not in known]
    if unknown:
        raise _Invalid(f"{where} has {len(unknown)} field(s) that {cls.__name__} does not have")
    try:
        return cls(**kwargs)
    except Exception as exc:  # the class's own validation (__post_init__): shapes, lengths, values
        raise _Invalid(f"{where} does not validate ({_short(exc)})") from None


def _decode(value, hint, path: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        return _decode(value, rest[0], path) if len(rest) == 1 else _decode_any(value, path)
    if hint is np.ndarray:
        return _decode_array(value, path)
    if hint is tuple or origin is tuple or hint is list or origin is list:
        if not isinstance(value, list):
            raise _Invalid(f"'{path}' must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            items = [_decode(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
        elif args and origin is tuple:
            if len(value) != len(args):
                raise _Invalid(f"'{path}' must have {len(args)} entries")
            items = [_decode(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_hint = args[0] if origin is list and args else Any
            items = [_decode(v, item_hint, f"{path}[{i}]") for i, v in enumerate(value)]
        return items if (hint is list or origin is list) else tuple(items)
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise _Invalid(f"'{path}' must be an object")
        value_hint = args[1] if len(args) == 2 else Any
        return {k: _decode(v, value_hint, f"{path}[…]") for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(value, hint, path)
    if hint is float:
        number = _decode_any(value, path)
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise _Invalid(f"'{path}' must be a number")
        return float(number)
    if hint in (int, bool, str):
        if type(value) is not hint:
            raise _Invalid(f"'{path}' must be {_TYPE_NAMES[hint]}")
        return value
    return _decode_any(value, path)


_TYPE_NAMES = {int: "a whole number", bool: "true or false", str: "text"}


def _decode_any(value, path: str):
    if isinstance(value, list):
        return [_decode_any(v, path) for v in value]
    if not isinstance(value, dict):
        return value
    if _ARRAY in value:
        return _decode_array(value, path)
    if _FLOAT in value:
        if len(value) != 1 or not isinstance(value[_FLOAT], str) or value[_FLOAT] not in _NON_FINITE:
            raise _Invalid(f"'{path}' holds a bad non-finite number")
        return _NON_FINITE[value[_FLOAT]]
    if _TUPLE in value:
        if len(value) != 1 or not isinstance(value[_TUPLE], list):
            raise _Invalid(f"'{path}' holds a bad tuple")
        return tuple(_decode_any(v, path) for v in value[_TUPLE])
    fmt = value.get("format")
    if isinstance(fmt, str) and fmt.startswith(PREFIX) and fmt[len(PREFIX):] in _REGISTRY and "version" in value:
        return _decode_dataclass(value, _REGISTRY[fmt[len(PREFIX):]].cls, path)
    return {k: _decode_any(v, path) for k, v in value.items()}


def _decode_array(value, path: str) -> np.ndarray:
    if not isinstance(value, dict) or value.get(_ARRAY) is not True:
        raise _Invalid(f"'{path}' must be an array ({{\"__ndarray__\": true, \"dtype\", \"shape\", \"data\"}})")
    dtype, shape, data = value.get("dtype"), value.get("shape"), value.get("data")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise _Invalid(f"'{path}' has an array type attnviz does not read")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise _Invalid(f"'{path}' has an invalid array shape")
    if not isinstance(data, str):
        raise _Invalid(f"'{path}' has no array data")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _Invalid(f"'{path}' has array data that is not base64") from None
    little = np.dtype(dtype).newbyteorder("<")
    if len(raw) != math.prod(shape) * little.itemsize:
        raise _Invalid(f"'{path}' has {len(raw)} bytes of data, which does not match its shape and type")
    return np.frombuffer(raw, dtype=little).astype(little.newbyteorder("="), copy=True).reshape(shape)


def _decode_frame(value, frame_type: type, columns, path: str):
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise _Invalid(f"'{path}' must be a list of row objects")
    if columns is None:  # documents written before the schema was kept: pandas infers the dtypes
        names, dtypes = list(dict.fromkeys(k for row in value for k in row)), None
    elif (isinstance(columns, list) and all(isinstance(c, list) and len(c) == 2 and all(isinstance(s, str) for s in c)
                                            for c in columns)):
        names, dtypes = [c[0] for c in columns], {c[0]: c[1] for c in columns}
    else:
        raise _Invalid(f"the schema of '{path}' must list [column, dtype] pairs")
    data = {}
    for name in names:
        cells = np.empty(len(value), dtype=object)
        for i, row in enumerate(value):
            cells[i] = _decode_any(row.get(name), path)
        data[name] = cells
    try:
        frame = frame_type(data, columns=names)
        return frame.astype(dtypes) if dtypes else frame.infer_objects()
    except Exception as exc:  # a dtype pandas does not know, or cells that do not fit it
        raise _Invalid(f"the table '{path}' does not fit its column types ({_short(exc)})") from None


# ------------------------------------------------------------------ helpers
def _hints(cls: type) -> dict:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _strip_none(hint):
    """``X | None`` → X (other hints unchanged)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint


def _is_frame_type(hint) -> bool:
    return isinstance(hint, type) and hint.__name__ == "DataFrame" and hasattr(hint, "itertuples")


def _is_frame(value) -> bool:
    return _is_frame_type(type(value))


def _short(exc: Exception) -> str:
    """An exception's type and the start of its message, markup characters dropped (a message may
    quote document content, which pages must not render as markdown or HTML)."""
    text = _UNSAFE.sub("", str(exc).splitlines()[0] if str(exc) else "")[:120].strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_UNSAFE = re.compile(r"[^\w\s.,;:=×'()-]")


__all__ = ["DTYPES", "PREFIX", "Serialisable", "array_document", "dumps", "from_document", "loads", "plain",
           "registered", "serialisable", "to_document", "upgrade_legacy_v1"]
