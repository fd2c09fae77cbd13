"""Audit result types: the settings that key a run, one example's summary, and the whole audit.

Frozen dataclasses with numpy arrays, validated in ``__post_init__``; ``to_json``/``from_json`` (and
``to_dict``/``from_dict``) are lossless (:mod:`attnviz.serialise`; the on-disk cache stores
``ExampleResult.to_json()``) and ``AuditResult.to_dataframe`` is results.csv.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..attention import HEAD_STAT_COLUMNS
from ..attribution import METHODS, Attribution
from ..errors import InputError
from ..serialise import Serialisable, serialisable

#: The head statistics kept per example, in the order of ExampleResult.head_stats' last axis.
STAT_NAMES = tuple(HEAD_STAT_COLUMNS)


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class AuditSettings:
    """Everything that changes an audit's per-example results (it keys the cache).

    Args:
        methods: attribution methods (see ``attnviz.attribution.METHODS``); may be empty.
        target: what is explained (None: the model's default, e.g. the zero-shot sentiment label).
        n_steps: Integrated Gradients steps (Gauss-Legendre), baseline = pad tokens, specials kept.
        faithfulness: ERASER comprehensiveness/sufficiency and deletion/insertion AUC per example.
        repeats: random rankings drawn for the faithfulness baseline.
        level: "word" (subwords summed) or "token" units for agreement and faithfulness.
        batch_size: examples per padded forward pass.
        seed: seed of the random faithfulness baseline and the bias probe's bootstrap.
        bias_axes: identity-term axes (``assets/bias/identity_terms.csv``: gender, religion, …) for a
            counterfactual bias probe on the same target, summarised in the report (empty: no probe).
    """

    methods: tuple[str, ...] = ("integrated_gradients",)
    target: object | None = None
    n_steps: int = 16
    faithfulness: bool = True
    repeats: int = 5
    level: str = "word"
    batch_size: int = 16
    seed: int = 0
    bias_axes: tuple[str, ...] = ()

    def __post_init__(self):
        methods = tuple(dict.fromkeys(self.methods))
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise InputError(f"Unknown method(s) {', '.join(unknown)}: use {', '.join(sorted(METHODS))}.")
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "bias_axes", tuple(dict.fromkeys(self.bias_axes)))
        if not 1 <= int(self.n_steps) <= 500:
            raise InputError("Integrated Gradients needs between 1 and 500 steps.")
        if not 1 <= int(self.batch_size) <= 512:
            raise InputError("The batch size must be between 1 and 512.")
        if not 1 <= int(self.repeats) <= 100:
            raise InputError("The random baseline needs between 1 and 100 repeats.")
        if self.level not in ("word", "token"):
            raise InputError("level must be 'word' or 'token'.")

    def to_dict(self, target=None) -> dict:
        """Plain JSON: the settings, with the (resolved) target written out field by field."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "target"}
        doc["methods"] = list(self.methods)
        doc["bias_axes"] = list(self.bias_axes)
        doc["target"] = describe_target(target if target is not None else self.target)
        return doc

    def result_key(self, target) -> dict:
        """The settings that change a per-example result (batch size does not)."""
        doc = self.to_dict(target)
        doc.pop("batch_size")
        return doc


def describe_target(target) -> dict | None:
    if target is None:
        return None
    fields = dataclasses.asdict(target) if dataclasses.is_dataclass(target) else {"repr": repr(target)}
    return {"type": type(target).__name__, **json.loads(json.dumps(fields, default=list))}


# ------------------------------------------------------------------ results
@serialisable(version=1)
@dataclass(frozen=True)
class ExampleResult(Serialisable):
    """One example's summary.

    ``scores`` maps method → [n] float32 per token; ``head_stats`` is [layers, heads, len(STAT_NAMES)]
    (:func:`attnviz.attention.head_statistics` of this example); ``rollout`` [n] the attention rollout
    read out the model's way; ``agreement`` maps "a|b" → {metric: value} on |φ|; ``faithfulness`` maps
    method (and "random") → {comprehensiveness, sufficiency, deletion_auc, insertion_auc}.
    """

    index: int
    text: str
    text_pair: str | None = None
    gold: str | None = None
    slices: dict = field(default_factory=dict)
    status: str = "ok"
    error: str = ""
    tokens: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    words: tuple[tuple[str, tuple[int, ...]], ...] = ()
    truncated: bool = False
    predicted: str = ""
    target: str = ""
    probabilities: dict = field(default_factory=dict)
    output: float = float("nan")
    scores: dict = field(default_factory=dict)
    deltas: dict = field(default_factory=dict)
    head_stats: np.ndarray | None = None
    rollout: np.ndarray | None = None
    agreement: dict = field(default_factory=dict)
    faithfulness: dict = field(default_factory=dict)
    seconds: float = 0.0
    from_cache: bool = False

    def __post_init__(self):
        if self.status not in ("ok", "error"):
            raise ValueError("status must be 'ok' or 'error'")
        if self.status == "ok":
            n = len(self.tokens)
            if len(self.kinds) != n:
                raise ValueError("kinds must have one entry per token")
            for method, scores in self.scores.items():
                if np.shape(scores) != (n,):
                    raise ValueError(f"{method} scores {np.shape(scores)} do not match {n} tokens")
            if self.head_stats is not None and (self.head_stats.ndim != 3 or self.head_stats.shape[2] != len(STAT_NAMES)):
                raise ValueError("head_stats must be [layers, heads, stats]")

    @property
    def correct(self) -> bool | None:
        if self.gold is None or self.status != "ok":
            return None
        return self.gold.strip().lower() == self.predicted.strip().lower()

    def attribution(self, method: str) -> Attribution:
        """The method's scores as an :class:`Attribution` (e.g. for ``to_words()`` or the figures)."""
        return Attribution(tokens=self.tokens, scores=np.asarray(self.scores[method], dtype=np.float32),
                           method=method, target=self.target, label=self.predicted, output=self.output,
                           kinds=self.kinds, words=self.words, delta=self.deltas.get(method))

    def word_scores(self, method: str) -> list[tuple[str, float]]:
        """(word, score) for the text's words (special tokens dropped), subwords summed."""
        words = self.attribution(method).to_words()
        return [(t, float(s)) for t, s, k in zip(words.tokens, words.scores, words.kinds)
                if k not in ("cls", "sep", "special")]


@serialisable(version=1)
@dataclass(frozen=True)
class AuditResult(Serialisable):
    """A finished (or cancelled) audit: the per-example summaries in dataset order plus the record of
    how they were made. ``total`` is the number of examples asked for; ``len(examples)`` ≤ total."""

    examples: tuple[ExampleResult, ...]
    settings: dict
    provenance: dict
    dataset: dict
    total: int
    layers: int
    heads: int
    label_names: tuple[str, ...] = ()
    slice_columns: tuple[str, ...] = ()
    cancelled: bool = False
    cache_hits: int = 0
    #: counterfactual bias probe summary ({"target", "axes": [...], "groups": [...], "sentences"}), or {}
    bias: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.examples) > self.total:
            raise ValueError("more examples than the total")

    @property
    def ok(self) -> list[ExampleResult]:
        return [e for e in self.examples if e.status == "ok"]

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.settings.get("methods", ()))

    def to_dataframe(self, top: int = 3) -> pd.DataFrame:
        """One row per example (results.csv): prediction, probabilities, the top ``top`` words per method,
        completeness gaps, mean agreement and faithfulness, slices and errors."""
        return pd.DataFrame(example_rows(self.examples, self.methods, self.label_names, self.slice_columns,
                                         pairs=any(e.text_pair for e in self.examples), top=top))


def example_rows(examples, methods, label_names, slice_columns, *, pairs: bool, top: int = 3) -> list[dict]:
    """The rows of results.csv for ``examples`` (``pairs``: whether any example of the audit has a text pair)."""
    rows = []
    for ex in examples:
        row = {"index": ex.index, "text": ex.text}
        if pairs:
            row["text_pair"] = ex.text_pair
        row.update({"gold": ex.gold, "predicted": ex.predicted, "correct": ex.correct, "output": ex.output})
        for name in label_names:
            row[f"p({name})"] = ex.probabilities.get(name)
        row.update({"n_tokens": len(ex.tokens), "truncated": ex.truncated})
        for method in methods:
            if method in ex.scores:
                ranked = sorted(ex.word_scores(method), key=lambda ws: -ws[1])[:top]
                row[f"top_{method}"] = " | ".join(f"{w} ({s:+.3f})" for w, s in ranked)
                if method in ex.deltas and ex.deltas[method] is not None:
                    row[f"delta_{method}"] = ex.deltas[method]
        if ex.agreement:
            row["mean_spearman"] = float(np.nanmean([a.get("spearman", np.nan) for a in ex.agreement.values()]))
        for method, metrics in ex.faithfulness.items():
            row[f"comprehensiveness_{method}"] = metrics.get("comprehensiveness")
            row[f"sufficiency_{method}"] = metrics.get("sufficiency")
        for column in slice_columns:
            row[column] = ex.slices.get(column)
        row.update({"status": ex.status, "error": ex.error, "from_cache": ex.from_cache})
        rows.append(row)
    return rows
