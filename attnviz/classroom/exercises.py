"""Predict, then reveal: exercise records and their answers, computed from the model (never stored).

An :class:`Exercise` asks one question about one text: on the Attention and Lab pages "which word will this
head attend to from 'it'?", on the Attribution page "which word matters most for the label?". Students
click a word as their guess; :func:`answer` then runs the model and gives the word the head attends to most
(or the word with the largest attribution), with every word's score. Shipped exercises live in
``assets/exercises/exercises.json`` (our own texts); a teacher can make one from the current view with
:func:`from_view`.

    >>> ex = load_exercises()[0]
    >>> ex.page, ex.kind
    ('attention', 'attends_to')
    >>> Exercise.from_dict(ex.to_dict()) == ex
    True

Which words are options: every token of the input except special ones ([CLS], [SEP], <s> …). A head that
puts most of its weight on [SEP] still has a top *word*; :class:`ExerciseAnswer` reports how much of the
row went to special tokens, so the guidance can say so.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from attnviz.attribution import method_title
from attnviz.errors import InputError
from attnviz.models.encoding import SPECIAL_KINDS
from attnviz.models.targets import build_target, default_target
from attnviz.serialise import Serialisable, serialisable

EXERCISES = Path(__file__).resolve().parents[2] / "assets" / "exercises" / "exercises.json"
PAGES = ("attention", "attribution", "lab")
KIND_OF_PAGE = {"attention": "attends_to", "lab": "attends_to", "attribution": "matters_most"}
DEFAULT_METHOD = "integrated_gradients"
"""The attribution method of an exercise that names none (Input × gradient saturates on confident zero-shot
labels: its scores all come out near 0)."""
MAX_TEXT = 2_000
MAX_TOKENS = 120
"""Options are drawn as buttons: longer inputs make no sense for a classroom guess."""
_ID = re.compile(r"^[a-z0-9_]{1,40}$")
_SUBWORD = re.compile(r"^(##|Ġ|▁)")


@dataclass(frozen=True)
class Exercise:
    """One predict-then-reveal question.

    Attributes:
        id: unique, stable name (``[a-z0-9_]``); title: a short label for the picker.
        page: ``"attention"``, ``"attribution"`` or ``"lab"``; the kind of question follows from it.
        text: the input the question is about.
        question: what the students are asked; guidance: shown with the answer (what to take from it).
        layer, head: the head asked about (attention and Lab). ``head=None`` on the Lab page: the head that
            attends most sharply from the query word (the Lab's heads differ from seed to seed).
        query: the word attended *from* (its first occurrence; ``"?"`` on the Lab page).
        method: the attribution method (Attribution page); target, labels, label: what is explained, as
            the target form holds it (``target=""``: the model's natural target).
        task: the Lab task whose models can read the text (Lab page only).
    """

    id: str
    title: str
    page: str
    text: str
    question: str
    guidance: str
    layer: int | None = None
    head: int | None = None
    query: str | None = None
    method: str = DEFAULT_METHOD
    target: str = ""
    labels: str = ""
    label: str = ""
    task: str | None = None

    def __post_init__(self):
        for name in ("id", "title", "page", "text", "question", "guidance"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise InputError(f"Exercise: {name!r} must be non-empty text.")
        if not _ID.match(self.id):
            raise InputError("Exercise: the id must be 1–40 characters of a–z, 0–9, _.")
        if self.page not in PAGES:
            raise InputError(f"Exercise {self.id!r}: page must be one of {PAGES}.")
        if len(self.text) > MAX_TEXT or len(self.question) > 400 or len(self.guidance) > 2_000:
            raise InputError(f"Exercise {self.id!r}: text, question or guidance is too long.")
        if self.kind == "attends_to":
            if not (isinstance(self.query, str) and self.query.strip()):
                raise InputError(f"Exercise {self.id!r}: an attention question needs the word attended from.")
            if self.page == "attention" and (self.layer is None or self.head is None):
                raise InputError(f"Exercise {self.id!r}: an attention question needs a layer and a head.")
        for name in ("layer", "head"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise InputError(f"Exercise {self.id!r}: {name} must be a whole number ≥ 0.")

    @property
    def kind(self) -> str:
        """``"attends_to"`` (the top word of a head's row) or ``"matters_most"`` (the top attribution)."""
        return KIND_OF_PAGE[self.page]

    def to_dict(self) -> dict:
        """Plain JSON-able values (a room carries exercises in this form)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Exercise:
        """An exercise from :meth:`to_dict`'s form (unknown keys are refused)."""
        if not isinstance(data, dict):
            raise InputError("An exercise must be a JSON object.")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"Exercise: unknown field(s) {sorted(unknown)[:5]}.")
        try:
            return cls(**data)
        except TypeError as exc:
            raise InputError("Exercise: a required field is missing.") from exc


@serialisable(version=1)
@dataclass(frozen=True)
class ExerciseAnswer(Serialisable):
    """What the model says, for one exercise.

    Attributes:
        exercise: the exercise's id.
        options: the words a student may choose (special tokens left out), in input order.
        positions: each option's token position in the input.
        scores: each option's score (the head's attention weight from the query, or the attribution).
        answer: the index into ``options`` of the answer (the largest score).
        detail: how it was computed, in words (which head, which method and label).
        special_mass: attention weight the query row put on special tokens (0 for attributions).
    """

    exercise: str
    options: tuple[str, ...]
    positions: tuple[int, ...]
    scores: np.ndarray
    answer: int
    detail: str
    special_mass: float = 0.0

    @property
    def answer_word(self) -> str:
        return self.options[self.answer]

    def option_labels(self) -> tuple[str, ...]:
        """Unique labels for the options: the word, with its position when the word repeats."""
        counts: dict[str, int] = {}
        for o in self.options:
            counts[o] = counts.get(o, 0) + 1
        return tuple(o if counts[o] == 1 else f"{o} ({p})" for o, p in zip(self.options, self.positions))

    def to_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame({"position": list(self.positions), "word": list(self.options),
                             "score": self.scores, "answer": [i == self.answer for i in range(len(self.options))]})


def _bare(token: str) -> str:
    return _SUBWORD.sub("", token).strip().lower()


def _query_position(exercise: Exercise, tokens, kinds) -> int:
    wanted = _bare(exercise.query or "")
    for special in (False, True):  # a word first; then a special token (the Lab's '?' answer slot is one)
        for i, (token, kind) in enumerate(zip(tokens, kinds)):
            if (kind in SPECIAL_KINDS) == special and _bare(token) == wanted:
                return i
    raise InputError(f"The word {exercise.query!r} is not a token of this exercise's text for this model.")


def _attends_to(exercise: Exercise, handle) -> ExerciseAnswer:
    result = handle.attention(exercise.text)
    if not hasattr(result, "attentions") or result.truncated:
        raise InputError("This exercise's text is too long for this model.")
    tokens, kinds = result.tokens, result.kinds
    if len(tokens) > MAX_TOKENS:
        raise InputError(f"An exercise text must have at most {MAX_TOKENS} tokens.")
    q = _query_position(exercise, tokens, kinds)
    att = np.asarray(result.attentions, dtype=np.float64)  # [layers, heads, n, n]
    keep = [i for i, k in enumerate(kinds) if k not in SPECIAL_KINDS]
    if exercise.head is None:  # the Lab: the head (any layer) whose row from the query is most peaked
        peaks = att[:, :, q, :][:, :, keep].max(axis=-1)
        layer_pos, head = np.unravel_index(int(np.argmax(peaks)), peaks.shape)
        layer_pos, head = int(layer_pos), int(head)
    else:
        if exercise.layer not in result.layers or exercise.head >= result.num_heads:
            raise InputError(f"This model has no layer {exercise.layer} / head {exercise.head}.")
        layer_pos, head = result.layers.index(exercise.layer), exercise.head
    row = att[layer_pos, head, q]
    scores = row[keep]
    special = float(row.sum() - scores.sum())
    detail = (f"layer {result.layers[layer_pos]} · head {head}, from '{tokens[q]}' (position {q})"
              + (" — the head that attends most sharply from there" if exercise.head is None else ""))
    return ExerciseAnswer(exercise.id, tuple(tokens[i] for i in keep), tuple(keep), scores.astype(np.float32),
                          int(np.argmax(scores)), detail, special)


def _matters_most(exercise: Exercise, handle) -> ExerciseAnswer:
    target = (build_target(exercise.target, labels=exercise.labels or None, label=exercise.label or None)
              if exercise.target else default_target(handle))
    attribution = handle.attribute(exercise.text, exercise.method, target=target).to_words()
    keep = [i for i, k in enumerate(attribution.kinds) if k not in SPECIAL_KINDS]
    if not keep or len(keep) > MAX_TOKENS:
        raise InputError(f"An exercise text must have between 1 and {MAX_TOKENS} words.")
    scores = np.asarray(attribution.scores, dtype=np.float64)[keep]
    detail = f"{method_title(exercise.method)}, explaining {attribution.target}"
    return ExerciseAnswer(exercise.id, tuple(attribution.tokens[i] for i in keep), tuple(keep),
                          scores.astype(np.float32), int(np.argmax(scores)), detail)


def answer(exercise: Exercise, handle) -> ExerciseAnswer:
    """Run ``handle``'s model on the exercise: the options and the answer (the largest score).

    Raises:
        InputError: the model cannot answer it (no such head, the query word is not a token, too long).
    """
    return _attends_to(exercise, handle) if exercise.kind == "attends_to" else _matters_most(exercise, handle)


def from_view(page: str, text: str, question: str, guidance: str, *, layer: int | None = None,
              head: int | None = None, query: str | None = None, method: str = DEFAULT_METHOD,
              target: str = "", labels: str = "", label: str = "", task: str | None = None,
              taken: tuple[str, ...] = ()) -> Exercise:
    """A teacher's exercise from what the page shows now (its id is new: ``mine_1``, ``mine_2`` …)."""
    n = 1
    while f"mine_{n}" in taken:
        n += 1
    title = question.strip()[:60] or "My exercise"
    return Exercise(f"mine_{n}", title, page, text, question, guidance.strip() or "Discuss what the answer shows.",
                    layer=layer, head=head, query=query, method=method, target=target, labels=labels,
                    label=label, task=task)


@lru_cache(maxsize=4)
def _read(path: str, mtime: float) -> tuple[Exercise, ...]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"The exercise file {Path(path).name} cannot be read.") from exc
    items = data.get("exercises") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InputError("The exercise file must hold {\"exercises\": [...]}.")
    exercises = tuple(Exercise.from_dict(item) for item in items)
    ids = [e.id for e in exercises]
    if len(set(ids)) != len(ids):
        raise InputError("The exercise file repeats an id.")
    return exercises


def load_exercises(path: Path | str = EXERCISES) -> tuple[Exercise, ...]:
    """The shipped exercises (re-read when the file changes)."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise InputError(f"The exercise file {path.name} is missing.") from exc
    return _read(str(path), mtime)
