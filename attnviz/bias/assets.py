"""The bias probe data: shipped CSVs in ``assets/bias/`` and user uploads, validated the same way.

Every table a probe reads is one of the KINDS below. Uploads and edited tables go through
:func:`read_csv` / :func:`validate`, which raise :class:`attnviz.errors.InputError` with a message
that says what to fix (size, encoding, columns, empty cells, slots). Sources and licences of the
shipped files are in ``assets/bias/README.md``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import InputError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "bias"
MAX_UPLOAD_BYTES = 1_000_000
MAX_ROWS = 5_000
MAX_CELL_CHARS = 500

IDENTITY_SLOT = "{identity}"
MASK_SLOT = "{mask}"
WORD_SLOT = "{word}"
_BRACES = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class Kind:
    """One kind of table: its required and optional columns (optional ones get a default)."""

    name: str
    required: tuple[str, ...]
    optional: tuple[tuple[str, str], ...] = ()
    filename: str = ""
    description: str = ""


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("terms", ("axis", "group", "term"), (), "identity_terms.csv",
         "identity terms: one row per term, grouped into groups (e.g. Muslim) within axes (e.g. religion)"),
    Kind("templates", ("template",), (("polarity", "neutral"),), "templates.csv",
         f"sentence templates, each with one {IDENTITY_SLOT} slot"),
    Kind("masked_templates", ("template",), (("polarity", "neutral"),), "masked_templates.csv",
         f"templates with one {IDENTITY_SLOT} slot and one {MASK_SLOT} (masked and causal LMs)"),
    Kind("pairs", ("sent_more", "sent_less"), (("bias_type", "unspecified"),), "example_pairs.csv",
         "sentence pairs: sent_more (the more stereotyping one) and sent_less, differing in a few words"),
    Kind("weat_words", ("list", "word"), (), "weat_words.csv", "word lists: one row per (list, word)"),
    Kind("weat_tests", ("test", "X", "Y", "A", "B"), (("source", ""),), "weat_tests.csv",
         "WEAT tests naming their target lists X, Y and attribute lists A, B"),
    Kind("seat_templates", ("template",), (), "seat_templates.csv",
         f"semantically bleached sentence templates, each with one {WORD_SLOT} slot"),
)}


def _kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise InputError(f"Unknown table kind '{kind}': use one of {', '.join(KINDS)}.")
    return KINDS[kind]


def load(kind: str) -> pd.DataFrame:
    """A shipped table (validated like an upload)."""
    spec = _kind(kind)
    return read_csv((ASSETS / spec.filename).read_bytes(), kind, limit=None)


def read_csv(data: bytes | str, kind: str, *, limit: int | None = MAX_UPLOAD_BYTES) -> pd.DataFrame:
    """Parse and validate an uploaded CSV of ``kind`` (see KINDS).

    Args:
        data: the file's bytes (UTF-8, a BOM is fine) or its text.
        kind: which table this is ("terms", "templates", "masked_templates", "pairs", "weat_words",
            "weat_tests", "seat_templates").
        limit: largest accepted size in bytes (None: no limit, for shipped files).

    Raises:
        InputError: too large, not UTF-8 text, not CSV, or failing :func:`validate`.
    """
    spec = _kind(kind)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if limit is not None and len(raw) > limit:
        raise InputError(f"The {spec.name} file is {len(raw) / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB. "
                         "Upload a smaller CSV.")
    if not raw.strip():
        raise InputError(f"The {spec.name} file is empty: expected a CSV with columns "
                         f"{', '.join(spec.required)}.")
    if b"\x00" in raw:
        raise InputError(f"The {spec.name} file is binary, not a CSV text file.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"The {spec.name} file is not UTF-8 text (byte {exc.start}): save it as CSV UTF-8 "
                         "and upload it again.") from exc
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InputError(f"The {spec.name} file is not a readable CSV: {first}") from exc
    return validate(frame, kind)


def validate(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Check a table of ``kind`` (uploaded or edited) and return a clean copy.

    Column names are matched case-insensitively, cells are stripped, fully empty rows are dropped,
    optional columns get their defaults, and each kind's own rules are checked (one slot per
    template, at least two groups per axis, distinct pair sentences, …).
    """
    spec = _kind(kind)
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"The {spec.name} table must be a table (DataFrame), not {type(frame).__name__}.")
    columns = {str(c).strip().lower(): c for c in frame.columns}
    missing = [c for c in spec.required if c.lower() not in columns]
    if missing:
        have = ", ".join(str(c) for c in frame.columns) or "none"
        raise InputError(f"The {spec.name} table needs the columns {', '.join(spec.required)}; missing "
                         f"{', '.join(missing)} (found: {have[:200]}).")
    out = pd.DataFrame({c: frame[columns[c.lower()]] for c in spec.required})
    for name, default in spec.optional:
        out[name] = frame[columns[name.lower()]] if name.lower() in columns else default
    out = out.fillna("").astype(str).apply(lambda col: col.str.strip())
    out = out[(out[list(spec.required)] != "").any(axis=1)].reset_index(drop=True)
    if out.empty:
        raise InputError(f"The {spec.name} table has no rows.")
    if len(out) > MAX_ROWS:
        raise InputError(f"The {spec.name} table has {len(out):,} rows; the limit is {MAX_ROWS:,}.")
    for column in spec.required:
        empty = out.index[out[column] == ""]
        if len(empty):
            raise InputError(f"Row {int(empty[0]) + 2} of the {spec.name} table has an empty '{column}' cell.")
    for column in out.columns:
        long = out.index[out[column].str.len() > MAX_CELL_CHARS]
        if len(long):
            raise InputError(f"Row {int(long[0]) + 2} of the {spec.name} table has a '{column}' cell longer "
                             f"than {MAX_CELL_CHARS} characters.")
    for name, default in spec.optional:
        out.loc[out[name] == "", name] = default
    _CHECKS.get(kind, lambda df: None)(out)
    return out


# ------------------------------------------------------------- kind rules
def _row(i) -> int:
    return int(i) + 2  # header is line 1 of the CSV


def _check_templates(df: pd.DataFrame, *, masked: bool) -> None:
    for i, template in df["template"].items():
        slots = _BRACES.findall(template)
        if slots.count(IDENTITY_SLOT) != 1:
            raise InputError(f"Template on row {_row(i)} needs exactly one {IDENTITY_SLOT} slot: “{template[:80]}”.")
        if masked and slots.count(MASK_SLOT) != 1:
            raise InputError(f"Template on row {_row(i)} needs exactly one {MASK_SLOT} slot where the masked "
                             f"or next word goes: “{template[:80]}”.")
        if masked and template.index(MASK_SLOT) < template.index(IDENTITY_SLOT):
            raise InputError(f"Template on row {_row(i)}: put {IDENTITY_SLOT} before {MASK_SLOT} (causal LMs "
                             "only see the words before the predicted one).")
        other = [s for s in slots if s not in (IDENTITY_SLOT, MASK_SLOT)] if masked else \
            [s for s in slots if s != IDENTITY_SLOT]
        if other:
            hint = " (use the masked templates for masked or causal LMs)" if other == [MASK_SLOT] else ""
            raise InputError(f"Template on row {_row(i)} has an unknown slot {other[0]}{hint}: “{template[:80]}”.")
    if df["template"].duplicated().any():
        dup = df["template"][df["template"].duplicated()].iloc[0]
        raise InputError(f"The template “{dup[:80]}” appears twice.")


def _check_terms(df: pd.DataFrame) -> None:
    for i, term in df["term"].items():
        if "{" in term or "}" in term:
            raise InputError(f"Identity term on row {_row(i)} contains a brace: “{term[:80]}”.")
    duplicated = df.duplicated(["axis", "term"])
    if duplicated.any():
        row = df[duplicated].iloc[0]
        raise InputError(f"The term “{row['term']}” appears twice in the axis “{row['axis']}”.")
    groups = df.groupby("axis", sort=False)["group"].nunique()
    lonely = groups[groups < 2]
    if len(lonely):
        raise InputError(f"The axis “{lonely.index[0]}” has only one group: counterfactual swaps need at least "
                         "two groups per axis.")


def _check_pairs(df: pd.DataFrame) -> None:
    same = df.index[df["sent_more"] == df["sent_less"]]
    if len(same):
        raise InputError(f"Pair on row {_row(same[0])}: the two sentences are identical.")


def _check_seat(df: pd.DataFrame) -> None:
    for i, template in df["template"].items():
        if _BRACES.findall(template) != [WORD_SLOT]:
            raise InputError(f"SEAT template on row {_row(i)} needs exactly one {WORD_SLOT} slot and no other: "
                             f"“{template[:80]}”.")


def _check_weat_tests(df: pd.DataFrame) -> None:
    for i, row in df.iterrows():
        names = [row[c] for c in ("X", "Y", "A", "B")]
        if len(set(names)) < 4:
            raise InputError(f"WEAT test on row {_row(i)} (“{row['test']}”) must name four different lists.")


_CHECKS = {
    "templates": lambda df: _check_templates(df, masked=False),
    "masked_templates": lambda df: _check_templates(df, masked=True),
    "terms": _check_terms,
    "pairs": _check_pairs,
    "seat_templates": _check_seat,
    "weat_tests": _check_weat_tests,
}


# ------------------------------------------------------------- WEAT lists
def word_lists(words: pd.DataFrame | None = None) -> dict[str, list[str]]:
    """{list name: words} from a ``weat_words`` table (default: the shipped IAT lists), order kept."""
    words = load("weat_words") if words is None else validate(words, "weat_words")
    return {name: list(dict.fromkeys(group["word"])) for name, group in words.groupby("list", sort=False)}


def weat_tests(tests: pd.DataFrame | None = None, words: pd.DataFrame | None = None) -> dict[str, dict]:
    """{test name: {"X", "Y", "A", "B": (list name, words), "source"}} with every list resolved."""
    tests = load("weat_tests") if tests is None else validate(tests, "weat_tests")
    lists = word_lists(words)
    out = {}
    for _, row in tests.iterrows():
        entry = {"source": row["source"]}
        for role in ("X", "Y", "A", "B"):
            if row[role] not in lists:
                raise InputError(f"WEAT test “{row['test']}” names the list “{row[role]}”, which is not in the "
                                 f"word lists ({', '.join(lists)[:200]}).")
            entry[role] = (row[role], lists[row[role]])
        out[row["test"]] = entry
    return out


def seat_templates(templates: pd.DataFrame | None = None) -> tuple[str, ...]:
    """The bleached SEAT templates (default: the shipped ones), each with one ``{word}`` slot."""
    templates = load("seat_templates") if templates is None else validate(templates, "seat_templates")
    return tuple(templates["template"])
