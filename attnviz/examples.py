"""The example gallery (``assets/examples/gallery.json``): short inputs that show known phenomena.

    >>> from attnviz.examples import load_examples
    >>> examples = load_examples()
    >>> examples[0].id, examples[0].page
    ('trophy_big', 'attention')
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


def load_examples(path: str | Path | None = None) -> tuple[Example, ...]:
    """Read and validate a gallery file (the shipped one by default).

    Raises:
        InputError: the file is missing, not JSON, not a gallery, or an entry is invalid / duplicated.
    """
    path = GALLERY if path is None else Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"Cannot read the example gallery {path}: {exc.strerror}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"The example gallery {path.name} is not valid JSON: {exc}.") from None
    if not isinstance(doc, dict) or doc.get("format") != "attnviz-gallery" or doc.get("version") != 1:
        raise InputError(f"{path.name} is not an attnviz gallery (format 'attnviz-gallery', version 1).")
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
