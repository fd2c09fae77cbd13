"""The example gallery (``assets/examples/gallery.json``): short inputs that show known phenomena.

    >>> from attnviz.examples import load_examples
    >>> examples = load_examples()
    >>> examples[0].id, examples[0].page
    ('trophy_big', 'attention')
    >>> from attnviz.examples import load_comparisons
    >>> pair = load_comparisons()[0]
    >>> pair.a.id, pair.b.id
    ('trophy_big', 'trophy_small')

Comparisons (the file's optional ``"comparisons"`` list) pair two examples as text A and text B for the
Compare-two page, by id, so each sentence is written once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from attnviz.errors import InputError

GALLERY = Path(__file__).resolve().parents[1] / "assets" / "examples" / "gallery.json"
PAGES = ("attention", "attribution")
MAX_TEXT = 20_000  # the Attribution page's text box limit
_ID = re.compile(r"^[a-z0-9_]{1,40}$")


@dataclass(frozen=True)
class Example:
    """One gallery entry.

    Attributes:
        id: unique, stable name (``[a-z0-9_]``).
        title: a short label for the picker.
        text: the input; ``pair``: an optional second sentence (None when absent).
        look_for: one line saying what the example shows.
        page: the page it suits best (``"attention"`` or ``"attribution"``); ``view``: the view there.
    """

    id: str
    title: str
    text: str
    look_for: str
    page: str
    view: str
    pair: str | None = None

    def __post_init__(self):
        for name in ("id", "title", "text", "look_for", "page", "view"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise InputError(f"Gallery example: {name!r} must be non-empty text.")
        if not _ID.match(self.id):
            raise InputError(f"Gallery example {self.id[:40]!r}: the id must be 1–40 characters of a–z, 0–9, _.")
        if self.page not in PAGES:
            raise InputError(f"Gallery example {self.id!r}: page must be one of {PAGES}.")
        if len(self.text) > MAX_TEXT or len(self.title) > 100 or len(self.look_for) > 400:
            raise InputError(f"Gallery example {self.id!r}: text, title or look_for is too long.")
        if self.pair is not None and (not isinstance(self.pair, str) or not self.pair.strip()
                                      or len(self.pair) > MAX_TEXT):
            raise InputError(f"Gallery example {self.id!r}: 'pair' must be non-empty text when given.")


@dataclass(frozen=True)
class Comparison:
    """Two gallery examples as a counterfactual pair: ``a`` fills text A and ``b`` text B on Compare two.

    Attributes:
        id: unique, stable name (``[a-z0-9_]``); ``title``: a short label for the picker.
        a, b: the two examples (different ids, both without a second sentence).
        look_for: one line saying what the difference B − A shows.
        view: the Compare-two tab it suits best (``"Attention"`` or ``"Attribution"``).
    """

    id: str
    title: str
    a: Example
    b: Example
    look_for: str
    view: str

    def __post_init__(self):
        for name in ("id", "title", "look_for", "view"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise InputError(f"Gallery comparison: {name!r} must be non-empty text.")
        if not _ID.match(self.id):
            raise InputError(f"Gallery comparison {self.id[:40]!r}: the id must be 1–40 characters of a–z, 0–9, _.")
        if self.view not in COMPARE_VIEWS:
            raise InputError(f"Gallery comparison {self.id!r}: view must be one of {COMPARE_VIEWS}.")
        if self.a.id == self.b.id or self.a.pair is not None or self.b.pair is not None:
            raise InputError(f"Gallery comparison {self.id!r}: 'a' and 'b' must be two different single-text "
                             "examples.")
        if len(self.title) > 100 or len(self.look_for) > 400:
            raise InputError(f"Gallery comparison {self.id!r}: title or look_for is too long.")


COMPARE_VIEWS = ("Attention", "Attribution")


def _read(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"Cannot read the example gallery {path}: {exc.strerror}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"The example gallery {path.name} is not valid JSON: {exc}.") from None
    if not isinstance(doc, dict) or doc.get("format") != "attnviz-gallery" or doc.get("version") != 1:
        raise InputError(f"{path.name} is not an attnviz gallery (format 'attnviz-gallery', version 1).")
    return doc


def load_examples(path: str | Path | None = None) -> tuple[Example, ...]:
    """Read and validate a gallery file (the shipped one by default).

    Raises:
        InputError: the file is missing, not JSON, not a gallery, or an entry is invalid / duplicated.
    """
    path = GALLERY if path is None else Path(path)
    doc = _read(path)
    entries = doc.get("examples")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path.name}: 'examples' must be a non-empty list.")
    fields = set(Example.__dataclass_fields__)
    examples = []
    for entry in entries:
        if not isinstance(entry, dict) or not set(entry) <= fields:
            raise InputError(f"{path.name}: each example is an object with the fields {sorted(fields)}.")
        try:
            examples.append(Example(**entry))
        except TypeError as exc:
            raise InputError(f"{path.name}: an example misses a field ({exc}).") from None
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path.name}: example ids must be unique.")
    return tuple(examples)


def load_comparisons(path: str | Path | None = None) -> tuple[Comparison, ...]:
    """The gallery's counterfactual pairs (its ``"comparisons"`` list; empty when it has none).

    Each entry is ``{"id", "title", "a": <example id>, "b": <example id>, "look_for", "view"}``.

    Raises:
        InputError: as ``load_examples``, or an entry names an unknown example / is invalid / duplicated.
    """
    path = GALLERY if path is None else Path(path)
    by_id = {e.id: e for e in load_examples(path)}
    entries = _read(path).get("comparisons", [])
    if not isinstance(entries, list):
        raise InputError(f"{path.name}: 'comparisons' must be a list.")
    fields = {"id", "title", "a", "b", "look_for", "view"}
    comparisons = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != fields:
            raise InputError(f"{path.name}: each comparison is an object with the fields {sorted(fields)}.")
        a, b = entry["a"], entry["b"]
        if not isinstance(a, str) or not isinstance(b, str) or a not in by_id or b not in by_id:
            raise InputError(f"{path.name}: comparison {str(entry['id'])[:40]!r} names an example that is not "
                             "in the gallery.")
        comparisons.append(Comparison(**{**entry, "a": by_id[a], "b": by_id[b]}))
    ids = [c.id for c in comparisons]
    if len(set(ids)) != len(ids):
        raise InputError(f"{path.name}: comparison ids must be unique.")
    return tuple(comparisons)
