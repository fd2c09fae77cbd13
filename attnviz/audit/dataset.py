"""Datasets for audits: CSV, JSONL or Parquet files with a text column (and optional label, pair and
slice columns), read with size and row limits and clear messages for malformed files.

Empty texts are **skipped and counted** (``Dataset.skipped_empty``), never sent to the model; a file with
no usable text at all is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

FORMATS = ("csv", "jsonl", "parquet")
MAX_BYTES = 20 * 2**20  # the same 20 MB as the app's upload limit (.streamlit/config.toml)
MAX_ROWS = 100_000
#: Column names tried, in order, when no text column is named.
TEXT_COLUMN_GUESSES = ("text", "sentence", "review", "content", "document", "input")
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "samples"
SAMPLE_SETS = {"reviews": SAMPLES_DIR / "reviews.csv"}


@dataclass(frozen=True)
class Dataset:
    """The examples of an audit, one row each.

    ``frame`` has the columns ``text``, ``text_pair`` (None where absent), ``label`` (str or None) and
    one column per slice column, in file order; ``index`` holds each row's position in the file
    (0-based, header excluded) so results point back to the source.
    """

    frame: pd.DataFrame
    source: str
    sha256: str
    text_column: str
    label_column: str | None = None
    pair_column: str | None = None
    slice_columns: tuple[str, ...] = ()
    rows_in_file: int = 0
    skipped_empty: int = 0
    limited_to: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        missing = {"index", "text", "text_pair", "label"} - set(self.frame.columns)
        if missing:
            raise ValueError(f"frame lacks columns {sorted(missing)}")

    def __len__(self) -> int:
        return len(self.frame)

    def describe(self) -> dict:
        """What the report records about the data (no texts)."""
        return {"source": self.source, "sha256": self.sha256, "text_column": self.text_column,
                "label_column": self.label_column, "pair_column": self.pair_column,
                "slice_columns": list(self.slice_columns), "rows_in_file": self.rows_in_file,
                "rows_used": len(self), "skipped_empty": self.skipped_empty, "limited_to": self.limited_to,
                "notes": list(self.notes)}


def detect_format(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    fmt = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
           ".parquet": "parquet", ".pq": "parquet"}.get(suffix)
    if fmt is None:
        raise InputError(f"Cannot tell the format of '{Path(filename).name}': use a .csv, .jsonl or .parquet file.")
    return fmt


def read_table(data: bytes, filename: str, *, fmt: str | None = None, max_bytes: int = MAX_BYTES) -> pd.DataFrame:
    """Parse a file's bytes into a DataFrame with every column it has (nothing chosen yet).

    Raises:
        InputError: too large, empty, not UTF-8, or not valid CSV / JSON Lines / Parquet.
    """
    fmt = fmt or detect_format(filename)
    if fmt not in FORMATS:
        raise InputError(f"Unknown format '{fmt}': use one of {', '.join(FORMATS)}.")
    name = Path(filename).name
    if len(data) > max_bytes:
        raise InputError(f"'{name}' is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.1f} MB. "
                         "Audit a sample of it (e.g. the first rows) instead.")
    if not data.strip():
        raise InputError(f"'{name}' is empty.")
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several types for a broken file
            raise InputError(f"'{name}' is not a readable Parquet file ({type(exc).__name__}).") from exc
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"'{name}' is not UTF-8 text (byte {exc.start} cannot be decoded): save it as UTF-8 "
                             "and upload it again.") from exc
        frame = _read_csv(text, name, filename) if fmt == "csv" else _read_jsonl(text, name)
    if frame.empty or not len(frame.columns):
        raise InputError(f"'{name}' has no rows.")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _read_csv(text: str, name: str, filename: str) -> pd.DataFrame:
    sep = "\t" if filename.lower().endswith(".tsv") else ","
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InputError(f"'{name}' is not valid CSV: {first}") from exc


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of objects is accepted too
        try:
            rows = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(f"'{name}' is not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    else:
        rows = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"'{name}' line {lineno} is not valid JSON: {exc.msg}.") from exc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"'{name}': every line must be a JSON object such as {{\"text\": \"…\", \"label\": \"…\"}}.")
    return pd.DataFrame(rows)


def guess_text_column(frame: pd.DataFrame) -> str:
    lower = {c.lower(): c for c in frame.columns}
    for guess in TEXT_COLUMN_GUESSES:
        if guess in lower:
            return lower[guess]
    for column in frame.columns:  # the first column holding strings
        if frame[column].map(lambda v: isinstance(v, str)).mean() > 0.5:
            return column
    raise InputError(f"No text column found among {', '.join(map(str, frame.columns))}: name one.")


def prepare(frame: pd.DataFrame, *, text_column: str | None = None, label_column: str | None = None,
            pair_column: str | None = None, slice_columns: Sequence[str] = (), limit: int | None = None,
            source: str = "data", sha256: str = "", max_rows: int = MAX_ROWS) -> Dataset:
    """Choose the columns of a parsed table and clean the rows.

    Args:
        frame: from :func:`read_table`.
        text_column: the text to audit (None: ``text``, ``sentence``, … or the first string column).
        label_column: optional gold labels (compared with the predicted label's name); ``"auto"`` takes a
            column named ``label`` when the file has one.
        pair_column: optional second text (sentence pairs).
        slice_columns: columns to break results down by.
        limit: keep the first ``limit`` usable rows (the rest is noted, not an error).
        max_rows: refuse files with more rows than this (set ``limit`` to audit a sample).

    Raises:
        InputError: a named column is missing, the text column holds no text, or nothing is left.
    """
    columns = list(frame.columns)
    if label_column == "auto":
        label_column = "label" if "label" in columns else None
    text_column = text_column or guess_text_column(frame)
    chosen = {"text": text_column, "label": label_column, "text pair": pair_column}
    for role, column in [*chosen.items(), *(("slice", c) for c in slice_columns)]:
        if column is not None and column not in columns:
            raise InputError(f"The {role} column '{column}' is not in the file; its columns are: "
                             f"{', '.join(map(str, columns))}.")
    if limit is not None and limit < 1:
        raise InputError("The row limit must be at least 1.")
    if len(frame) > max_rows and limit is None:
        raise InputError(f"The file has {len(frame):,} rows; the limit is {max_rows:,}. Set a row limit to audit a "
                         "sample.")
    texts = frame[text_column]
    if len(texts) and not texts.map(lambda v: isinstance(v, str)).any():
        raise InputError(f"The text column '{text_column}' holds no text (e.g. {texts.iloc[0]!r}): choose another "
                         "column.")
    clean = texts.map(_as_text)
    usable = clean.map(lambda t: bool(t and t.strip()))
    skipped = int((~usable).sum())
    if not usable.any():
        raise InputError(f"Every row of the text column '{text_column}' is empty.")
    keep = usable.to_numpy()
    n_kept = int(keep.sum())

    def column(values) -> pd.Series:  # object dtype, so a missing value stays None (pandas 3 makes str NaN)
        return pd.Series(list(values), dtype=object)

    out = pd.DataFrame({"index": np.flatnonzero(keep), "text": column(clean[keep])})
    pairs = frame.loc[keep, pair_column].map(_as_text) if pair_column else [None] * n_kept
    out["text_pair"] = column(p if isinstance(p, str) and p.strip() else None for p in pairs)
    out["label"] = column(frame.loc[keep, label_column].map(_as_label) if label_column else [None] * n_kept)
    for name in slice_columns:  # prefixed: a slice column may be called "label" or "text" too
        out[slice_key(name)] = column(frame.loc[keep, name].map(_as_label))
    notes = []
    if skipped:
        notes.append(f"{skipped} row(s) with an empty text were skipped.")
    limited = None
    if limit is not None and len(out) > limit:
        notes.append(f"Only the first {limit} of {len(out)} usable rows were audited (row limit).")
        out, limited = out.iloc[:limit], limit
    out = out.reset_index(drop=True)
    return Dataset(out, source, sha256, text_column, label_column, pair_column, tuple(slice_columns), len(frame),
                   skipped, limited, tuple(notes))


def slice_key(column: str) -> str:
    """The prepared frame's column that holds the slice ``column`` of the file."""
    return f"slice:{column}"


def _as_text(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return value if isinstance(value, str) else str(value)


def _as_label(value) -> str | None:
    text = _as_text(value)
    return text.strip() if text is not None and text.strip() else None


def load_dataset(source: str | Path | bytes, *, filename: str | None = None, fmt: str | None = None,
                 max_bytes: int = MAX_BYTES, **columns) -> Dataset:
    """Read and prepare a dataset from a path (or bytes plus their ``filename``) in one call.

    ``source`` may also name a shipped sample set (``"reviews"``). Other keyword arguments are those of
    :func:`prepare`.

    Example:
        >>> ds = load_dataset("reviews", label_column="label")
        >>> ds.frame[["text", "label"]].head()
    """
    if isinstance(source, (bytes, bytearray)):
        if not filename:
            raise InputError("Give the file name with its bytes (the extension says the format).")
        data, name = bytes(source), filename
    else:
        path = SAMPLE_SETS.get(str(source), Path(source)).expanduser() if isinstance(source, str) else source
        if not path.is_file():
            raise InputError(f"No data file at '{source}'.")
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"'{path.name}' is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.1f} MB.")
        data, name = path.read_bytes(), filename or str(path)
    frame = read_table(data, name, fmt=fmt, max_bytes=max_bytes)
    return prepare(frame, source=Path(name).name, sha256=hashlib.sha256(data).hexdigest(), **columns)
