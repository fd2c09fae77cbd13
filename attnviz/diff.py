"""Compare two: the same view for two inputs (a counterfactual pair) or two models, and their difference.

(Not :mod:`attnviz.metrics`, which measures agreement between explainers on one input.)

Positions are first *aligned*: :func:`align` runs difflib's SequenceMatcher on the two unit sequences
(tokens, or words). Equal runs align 1:1, and so do replaced runs of the same length (a swap such as
"he" → "she"); any other unit has no partner and is a *gap*. Differences are defined on aligned
positions only (B − A); gaps are NaN and every figure says how many there are.

Units:
    token level  both sides share one tokenizer (the same model): token strings are aligned.
    word level   different models (different tokenizers): each side's attention is first pooled into
                 words — attention *to* a word is the sum over its tokens, attention *from* a word the
                 mean over its tokens (rows still sum to 1; Clark et al. 2019) — and words are aligned.

Heads and layers: per-(layer, head) differences are only defined when both sides are the same model
(head 3 of one model is not head 3 of another). Otherwise heads are averaged; layers are compared one by
one when both models have the same number of layers, else only the mean over all layers and heads is.

Shapes (P = aligned grid positions, gaps included):
    AttentionDiff.a, .b, .diff   [layers', heads', P, P]   NaN on gap rows/columns
    AttributionDiff.a, .b, .diff [methods, P]               NaN on gaps
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .attention import AttentionResult
from .attribution.context import prepare
from .attribution.result import Attribution
from .errors import InputError
from .models.targets import ClassTarget, NextTokenTarget, ZeroShotTarget, default_target
from .serialise import Serialisable, serialisable, upgrade_legacy_v1

LEVELS = ("auto", "token", "word")
SCALES = {"raw": "raw scores", "share": "score / Σ|score| of that side (shapes, not magnitudes)"}
_SPECIAL = ("cls", "sep", "special")


# ------------------------------------------------------------------ alignment
@dataclass(frozen=True)
class Alignment:
    """How the units of A and B line up.

    ``pairs`` is the display order: (index in A, index in B), -1 where that side has no unit (a gap).
    """

    units_a: tuple[str, ...]
    units_b: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    level: str = "token"

    def __post_init__(self):
        seen_a = [i for i, _ in self.pairs if i >= 0]
        seen_b = [j for _, j in self.pairs if j >= 0]
        if seen_a != list(range(len(self.units_a))) or seen_b != list(range(len(self.units_b))):
            raise ValueError("pairs must visit every unit of A and of B once, in order")
        if any(i < 0 and j < 0 for i, j in self.pairs):
            raise ValueError("a pair needs a unit on at least one side")

    @property
    def matched(self) -> np.ndarray:
        """[P] bool: grid positions with a unit on both sides."""
        return np.array([i >= 0 and j >= 0 for i, j in self.pairs], dtype=bool)

    @property
    def n_gaps(self) -> int:
        return int((~self.matched).sum())

    @property
    def labels(self) -> tuple[str, ...]:
        """One label per grid position: the unit, "a→b" for a swap, "a (A only)" / "b (B only)" for gaps."""
        def show(unit: str) -> str:
            return unit.strip() or unit  # words keep their leading space (" cat"); tokens may be " "

        out = []
        for i, j in self.pairs:
            if i >= 0 and j >= 0:
                a, b = show(self.units_a[i]), show(self.units_b[j])
                out.append(a if a == b else f"{a}→{b}")
            elif i >= 0:
                out.append(f"{show(self.units_a[i])} (A only)")
            else:
                out.append(f"{show(self.units_b[j])} (B only)")
        return tuple(out)

    def gap_note(self) -> str:
        if not self.n_gaps:
            return f"all {len(self.pairs)} {self.level}s aligned"
        only_a = sum(1 for _, j in self.pairs if j < 0)
        only_b = sum(1 for i, _ in self.pairs if i < 0)
        return (f"{int(self.matched.sum())} {self.level}s aligned; gaps (blank, no difference defined): "
                f"{only_a} only in A, {only_b} only in B")


def _key(unit: str, kind: str | None) -> str:
    if kind in _SPECIAL:
        return f"\x00{kind}"  # [CLS] and <s> play the same part
    return unit.replace("##", "").replace("Ġ", "").replace("▁", "").strip().casefold()


def align(units_a: Sequence[str], units_b: Sequence[str], *, kinds_a: Sequence[str] | None = None,
          kinds_b: Sequence[str] | None = None, level: str = "token") -> Alignment:
    """Align two unit sequences with difflib.SequenceMatcher (case-insensitive, subword marks ignored).

    Equal blocks and same-length replacements pair 1:1; everything else becomes a gap.

    Example:
        >>> align(["[CLS]", "he", "is"], ["[CLS]", "she", "is"]).labels
        ('[CLS]', 'he→she', 'is')
    """
    units_a, units_b = tuple(map(str, units_a)), tuple(map(str, units_b))
    kinds_a = kinds_a or [None] * len(units_a)
    kinds_b = kinds_b or [None] * len(units_b)
    keys_a = [_key(u, k) for u, k in zip(units_a, kinds_a)]
    keys_b = [_key(u, k) for u, k in zip(units_b, kinds_b)]
    pairs: list[tuple[int, int]] = []
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and a1 - a0 == b1 - b0):
            pairs.extend(zip(range(a0, a1), range(b0, b1)))
        else:
            pairs.extend((i, -1) for i in range(a0, a1))
            pairs.extend((-1, j) for j in range(b0, b1))
    return Alignment(units_a, units_b, tuple(pairs), level)


def word_attention(attentions: np.ndarray, words) -> np.ndarray:
    """[..., n, n] token attention → [..., w, w] word attention (sum over key tokens, mean over queries).

    ``words``: (word text, token positions) per word, covering every token once (``Encoding.words``).
    """
    n = attentions.shape[-1]
    member = np.zeros((len(words), n), dtype=np.float64)
    for w, (_, idx) in enumerate(words):
        member[w, list(idx)] = 1.0
    if not np.array_equal(member.sum(0), np.ones(n)):
        raise InputError("The word groups do not cover every token once; re-extract the words for this text.")
    to_words = attentions.astype(np.float64) @ member.T  # [..., n, w]
    from_words = (member / member.sum(1, keepdims=True)) @ to_words  # [..., w, w]
    return from_words.astype(np.float32)


def word_units(words, kinds: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(word texts, word kinds): a single special token keeps its kind, any other word is text."""
    texts = tuple(text for text, _ in words)
    word_kinds = tuple(kinds[idx[0]] if len(idx) == 1 else "text" for _, idx in words)
    return texts, word_kinds


def _resolve_level(level: str, same_model: bool) -> str:
    if level not in LEVELS:
        raise InputError(f"Unknown level '{level}': use one of {', '.join(LEVELS)}.")
    if level == "auto":
        return "token" if same_model else "word"
    return level


def _on_grid(values: np.ndarray, positions: np.ndarray, index: np.ndarray, size: int, axes: int) -> np.ndarray:
    """Scatter the last ``axes`` axes of ``values`` onto a NaN grid of ``size`` at ``positions``."""
    grid = np.full(values.shape[:-axes] + (size,) * axes, np.nan, dtype=np.float32)
    if axes == 1:
        grid[..., positions] = values[..., index]
    else:
        grid[..., positions[:, None], positions[None, :]] = values[..., index[:, None], index[None, :]]
    return grid


def _grid_index(alignment: Alignment, side: int) -> tuple[np.ndarray, np.ndarray]:
    pos = np.array([p for p, pair in enumerate(alignment.pairs) if pair[side] >= 0], dtype=np.int64)
    idx = np.array([pair[side] for pair in alignment.pairs if pair[side] >= 0], dtype=np.int64)
    return pos, idx


# ------------------------------------------------------------------ attention
@serialisable(version=2, upgrades={1: upgrade_legacy_v1})  # v1: arrays as untyped base64 float32
@dataclass(frozen=True)
class AttentionDiff(Serialisable):
    """Attention of A and B on one aligned grid, and B − A.

    ``a``/``b`` are [layers', heads', P, P] float32 with NaN where that side has no unit; the difference
    ``diff`` is NaN wherever either side is. ``per_head`` False means heads'=1 holds the mean over heads.
    ``layer_labels`` names each layer row (e.g. "layer 3", or "mean of all layers").
    ``note`` says in one sentence what exactly is compared.
    """

    name_a: str
    name_b: str
    alignment: Alignment
    a: np.ndarray
    b: np.ndarray
    layer_labels: tuple[str, ...]
    per_head: bool
    note: str = ""

    def __post_init__(self):
        P = len(self.alignment.pairs)
        for side in (self.a, self.b):
            if side.ndim != 4 or side.shape[2:] != (P, P) or side.shape[0] != len(self.layer_labels):
                raise ValueError(f"attention {side.shape} does not match {len(self.layer_labels)} layers × {P} units")
        if self.a.shape != self.b.shape:
            raise ValueError("A and B must have the same grid shape")
        if not self.per_head and self.a.shape[1] != 1:
            raise ValueError("without per-head comparison the head axis holds one mean")

    @property
    def level(self) -> str:
        return self.alignment.level

    @property
    def labels(self) -> tuple[str, ...]:
        return self.alignment.labels

    @property
    def diff(self) -> np.ndarray:
        """[layers', heads', P, P]: B − A on aligned cells, NaN elsewhere."""
        return self.b - self.a

    def layer_diff(self, layer_pos: int, head: int | None = None) -> np.ndarray:
        """[P, P] B − A for one layer row and one head (None: the mean over heads)."""
        d = self.diff[layer_pos]
        return d.mean(axis=0) if head is None else d[head]

    def head_summary(self) -> pd.DataFrame:
        """One row per (layer, head): mean and max |B − A| over aligned cells (which heads changed most)."""
        d = np.abs(self.diff[..., self.alignment.matched, :][..., self.alignment.matched])
        L, H = d.shape[:2]
        flat = d.reshape(L, H, -1)
        mean = flat.mean(-1) if flat.shape[-1] else np.zeros((L, H))
        peak = flat.max(-1) if flat.shape[-1] else np.zeros((L, H))
        layer, head = np.meshgrid(np.arange(L), np.arange(H), indexing="ij")
        return pd.DataFrame({"layer": [self.layer_labels[i] for i in layer.ravel()],
                             "head": head.ravel() if self.per_head else "mean",
                             "mean_abs_diff": mean.ravel().astype(np.float32),
                             "max_abs_diff": peak.ravel().astype(np.float32)})

    def to_dataframe(self) -> pd.DataFrame:
        """Long format over aligned cells: layer, head, query, key, weight in A, in B, and B − A."""
        pos = np.flatnonzero(self.alignment.matched)
        labels = np.asarray(self.labels, dtype=object)
        L, H = self.a.shape[:2]
        li, hi, qi, ki = np.meshgrid(np.arange(L), np.arange(H), pos, pos, indexing="ij")
        a = self.a[li, hi, qi, ki].ravel()
        b = self.b[li, hi, qi, ki].ravel()
        return pd.DataFrame({
            "layer": np.asarray(self.layer_labels, dtype=object)[li.ravel()],
            "head": hi.ravel() if self.per_head else "mean", "query_position": qi.ravel(),
            "query": labels[qi.ravel()], "key_position": ki.ravel(), "key": labels[ki.ravel()],
            "a": a, "b": b, "diff": b - a,
        })


def attention_diff(a: AttentionResult, b: AttentionResult, *, level: str = "auto", words_a=None, words_b=None,
                   per_head: bool | None = None, name_a: str = "A", name_b: str = "B") -> AttentionDiff:
    """Align A's and B's (self-)attention and take B − A.

    Args:
        a, b: attention of the two inputs (or two models).
        level: "token", "word" or "auto" (tokens for the same model, words for two models).
        words_a, words_b: (word text, token positions) per word (``handle.encode(text).words``);
            needed at word level.
        per_head: compare head by head (default: when both sides are the same model with the same
            layers); False compares the mean over heads.
        name_a, name_b: how the figures name each side.
    """
    same_model = a.model_name == b.model_name
    level = _resolve_level(level, same_model)
    att_a, att_b = a.attentions, b.attentions
    if level == "word":
        if not words_a or not words_b:
            raise InputError("Word-level comparison needs the word groups of both inputs (handle.encode(text).words).")
        units_a, kinds_a = word_units(words_a, a.kinds)
        units_b, kinds_b = word_units(words_b, b.kinds)
        att_a, att_b = word_attention(att_a, words_a), word_attention(att_b, words_b)
    else:
        units_a, kinds_a, units_b, kinds_b = a.tokens, a.kinds, b.tokens, b.kinds
    same_shape = a.layers == b.layers and a.num_heads == b.num_heads
    if per_head is None:
        per_head = same_model and same_shape
    if per_head and not same_shape:
        raise InputError("Head-by-head differences need the same layers and heads on both sides; "
                         "compare the mean over heads instead.")
    what = "each head" if per_head else "the mean over heads"
    if per_head or len(a.layers) == len(b.layers):
        layer_labels = tuple(f"layer {la}" if la == lb else f"layer {la} (A) / {lb} (B)"
                             for la, lb in zip(a.layers, b.layers))
        if not per_head:
            att_a, att_b = att_a.mean(axis=1, keepdims=True), att_b.mean(axis=1, keepdims=True)
        what += " per layer"
    else:
        layer_labels = (f"mean of all layers (A: {len(a.layers)}, B: {len(b.layers)})",)
        att_a = att_a.mean(axis=(0, 1), keepdims=True)
        att_b = att_b.mean(axis=(0, 1), keepdims=True)
        what += " and over all layers (the models differ in depth)"
    alignment = align(units_a, units_b, kinds_a=kinds_a, kinds_b=kinds_b, level=level)
    P = len(alignment.pairs)
    pos_a, idx_a = _grid_index(alignment, 0)
    pos_b, idx_b = _grid_index(alignment, 1)
    grid_a = _on_grid(att_a, pos_a, idx_a, P, 2)
    grid_b = _on_grid(att_b, pos_b, idx_b, P, 2)
    unit = "word (tokens pooled into words: sum over keys, mean over queries)" if level == "word" else "token"
    note = f"B − A of {what}, per aligned {unit}; {alignment.gap_note()}."
    return AttentionDiff(name_a, name_b, alignment, grid_a, grid_b, layer_labels, bool(per_head), note)


# ---------------------------------------------------------------- attribution
@serialisable(version=2, upgrades={1: upgrade_legacy_v1})  # v1: arrays as untyped base64 float32
@dataclass(frozen=True)
class AttributionDiff(Serialisable):
    """Per-method attribution of A and B on one aligned grid, and B − A.

    ``a``/``b`` are [methods, P] float32 (NaN on gaps) in ``scale`` units (see SCALES);
    ``targets_a``/``targets_b`` the explained number of each method on each side, ``outputs_*`` its value.
    """

    name_a: str
    name_b: str
    alignment: Alignment
    methods: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    targets_a: tuple[str, ...]
    targets_b: tuple[str, ...]
    outputs_a: tuple[float, ...]
    outputs_b: tuple[float, ...]
    scale: str = "raw"
    note: str = ""

    def __post_init__(self):
        shape = (len(self.methods), len(self.alignment.pairs))
        if self.a.shape != shape or self.b.shape != shape:
            raise ValueError(f"scores must be [methods, positions] = {shape}")
        if not (len(self.targets_a) == len(self.targets_b) == len(self.outputs_a) == len(self.outputs_b)
                == len(self.methods)):
            raise ValueError("one target and output per method on each side")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {sorted(SCALES)}")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.alignment.labels

    @property
    def level(self) -> str:
        return self.alignment.level

    @property
    def diff(self) -> np.ndarray:
        """[methods, P]: B − A on aligned positions, NaN on gaps."""
        return self.b - self.a

    @property
    def same_targets(self) -> bool:
        return self.targets_a == self.targets_b

    def to_dataframe(self) -> pd.DataFrame:
        """One row per (method, grid position): unit of A, unit of B, scores and B − A (NaN on gaps)."""
        al = self.alignment
        rows = []
        for m, method in enumerate(self.methods):
            for p, (i, j) in enumerate(al.pairs):
                rows.append({"method": method, "position": p, "label": al.labels[p],
                             "unit_a": al.units_a[i] if i >= 0 else None,
                             "unit_b": al.units_b[j] if j >= 0 else None,
                             "a": float(self.a[m, p]), "b": float(self.b[m, p]), "diff": float(self.diff[m, p])})
        return pd.DataFrame(rows)


def attribution_diff(attributions_a: Mapping[str, Attribution], attributions_b: Mapping[str, Attribution], *,
                     level: str = "auto", scale: str = "raw", name_a: str = "A",
                     name_b: str = "B") -> AttributionDiff:
    """Align each method's scores for A and B and take B − A.

    Args:
        attributions_a, attributions_b: ``{method: Attribution}``; the methods both sides have are compared.
        level: "token", "word" (subword scores summed into words, ``Attribution.to_words``) or "auto"
            (tokens for the same model, words for two models).
        scale: "raw", or "share" (each side divided by its own Σ|score|: use it when A and B explain
            different numbers or very different magnitudes).
    """
    if scale not in SCALES:
        raise InputError(f"Unknown scale '{scale}': use one of {', '.join(SCALES)}.")
    methods = tuple(m for m in attributions_a if m in attributions_b)
    if not methods:
        raise InputError("A and B have no attribution method in common: run the same method on both.")
    first_a, first_b = attributions_a[methods[0]], attributions_b[methods[0]]
    level = _resolve_level(level, first_a.model_name == first_b.model_name)

    def units(attr: Attribution) -> Attribution:
        return attr.to_words() if level == "word" else attr

    sides = []
    for attrs in (attributions_a, attributions_b):
        converted = [units(attrs[m]) for m in methods]
        ref = converted[0]
        if any(c.tokens != ref.tokens for c in converted):
            raise InputError("Every method on one side must explain the same input.")
        sides.append(converted)
    ref_a, ref_b = sides[0][0], sides[1][0]
    alignment = align(ref_a.tokens, ref_b.tokens, kinds_a=ref_a.kinds, kinds_b=ref_b.kinds, level=level)
    P = len(alignment.pairs)
    grids = []
    for s, converted in enumerate(sides):
        scores = np.stack([c.scores.astype(np.float64) for c in converted])
        if scale == "share":
            total = np.abs(scores).sum(axis=1, keepdims=True)
            scores = np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)
        pos, idx = _grid_index(alignment, s)
        grids.append(_on_grid(scores.astype(np.float32), pos, idx, P, 1))
    targets_a = tuple(c.target for c in sides[0])
    targets_b = tuple(c.target for c in sides[1])
    note = f"B − A per aligned {level} ({SCALES[scale]}); {alignment.gap_note()}."
    if targets_a != targets_b:
        note += (" A and B explain different numbers (A: " + targets_a[0] + "; B: " + targets_b[0] + ")"
                 + (": compare shapes with scale = share." if scale == "raw" else "."))
    return AttributionDiff(name_a, name_b, alignment, methods, grids[0], grids[1], targets_a, targets_b,
                           tuple(float(c.output) for c in sides[0]), tuple(float(c.output) for c in sides[1]),
                           scale, note)


# --------------------------------------------------------------- one call each
def shared_target(handle, text: str, text_pair: str | None = None):
    """The model's default target for ``text`` with its predicted label fixed, to explain B by the same number.

    A counterfactual pair may flip the prediction ("positive" for A, "negative" for B); explaining each
    side's own prediction would then compare explanations of different numbers. Masked-LM targets keep
    None (a predicted word piece need not re-tokenise to itself).
    """
    target = default_target(handle)
    scorer = prepare(handle, text, text_pair, target).scorer
    if isinstance(target, ZeroShotTarget):
        return replace(target, label=scorer.label)
    if isinstance(target, ClassTarget):
        names = [str(handle.config.id2label.get(i, f"LABEL_{i}")) for i in range(handle.config.num_labels)]
        return ClassTarget(names.index(scorer.label))
    if isinstance(target, NextTokenTarget):
        return NextTokenTarget(token_id=int(handle.tokenizer.convert_tokens_to_ids(scorer.label)))
    return target


def compare_attention(handle_a, text_a: str, handle_b=None, text_b: str | None = None, *, level: str = "auto",
                      per_head: bool | None = None) -> AttentionDiff:
    """Extract attention for A and B (B defaults to A's model / A's text) and compare them.

    Example:
        >>> model = attnviz.load_model()
        >>> d = compare_attention(model, "He is a nurse.", text_b="She is a nurse.")
        >>> d.diff.shape        # [layers, heads, P, P]
    """
    handle_b = handle_a if handle_b is None else handle_b
    text_b = text_a if text_b is None else text_b
    a, b = handle_a.attention(text_a), handle_b.attention(text_b)
    words_a = handle_a.encode(text_a).words
    words_b = handle_b.encode(text_b).words
    return attention_diff(a, b, level=level, words_a=words_a, words_b=words_b, per_head=per_head,
                          name_a=_side_name("A", handle_a, text_a), name_b=_side_name("B", handle_b, text_b))


def compare_attributions(handle_a, text_a: str, handle_b=None, text_b: str | None = None, *,
                         methods: Sequence[str] = ("integrated_gradients",), target="shared", level: str = "auto",
                         scale: str = "raw", **settings) -> AttributionDiff:
    """Attribute A and B with each method and compare. ``target="shared"``: A's predicted label on both
    sides when both are the same model (:func:`shared_target`); None: each side's own prediction."""
    handle_b = handle_a if handle_b is None else handle_b
    text_b = text_a if text_b is None else text_b
    if isinstance(target, str) and target == "shared":
        target = shared_target(handle_a, text_a) if handle_b is handle_a else None
    attrs_a = {m: handle_a.attribute(text_a, m, target=target, **settings) for m in methods}
    attrs_b = {m: handle_b.attribute(text_b, m, target=target, **settings) for m in methods}
    return attribution_diff(attrs_a, attrs_b, level=level, scale=scale, name_a=_side_name("A", handle_a, text_a),
                            name_b=_side_name("B", handle_b, text_b))


def _side_name(side: str, handle, text: str) -> str:
    short = text if len(text) <= 40 else text[:39] + "…"
    return f"{side}: {short} ({handle.name})"


__all__ = ["Alignment", "AttentionDiff", "AttributionDiff", "align", "attention_diff", "attribution_diff",
           "compare_attention", "compare_attributions", "shared_target", "word_attention"]
