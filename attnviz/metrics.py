"""Compare explanations: do two explainers agree, and does either one track what the model uses?

Attention maps, gradients, Integrated Gradients and SHAP all give one score per token, and they often
disagree. This module answers two separate questions without touching a model:

* **Agreement** (Krishna et al. 2022, "The Disagreement Problem"): feature, rank, sign and signed-rank
  agreement at top-k, Spearman ρ, Kendall τ and pairwise rank agreement between two score vectors.
* **Faithfulness**: ERASER comprehensiveness/sufficiency (DeYoung et al. 2020) and deletion/insertion
  curves (Samek et al. 2017; Petsiuk et al. 2018), always next to a random-ranking baseline, because a
  faithfulness number means little without chance level beside it.

The model is reached only through a callback ``predict(keep_masks) -> outputs``: ``keep_masks`` is a bool
array ``[m, n]`` saying which tokens remain in each perturbed input (the caller turns removed tokens into
deletions) and the result is one number per row, e.g. the predicted-class probability. Every metric sends
all its perturbed inputs to **one** ``predict`` call (duplicate rows removed), since each call is a model
forward pass and batching is what keeps these metrics affordable.

Importance is ranked by ``|score|`` unless a function says otherwise: attention is non-negative, so it may
be compared with ``|φ|`` (or ``φ⁺``) of a signed explainer, never with signed ``φ``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .errors import InputError

__all__ = [
    "AGREEMENT_METRICS", "DEFAULT_THRESHOLDS", "Predict", "agreement", "agreement_matrix", "agreement_table",
    "deletion_insertion", "default_k", "eraser", "random_baseline",
]

Predict = Callable[[np.ndarray], np.ndarray]
"""``predict(keep_masks: bool [m, n]) -> [m]``: the model output for each perturbed input."""

AGREEMENT_METRICS: tuple[str, ...] = (
    "feature_agreement", "rank_agreement", "sign_agreement", "signed_rank_agreement",
    "spearman", "kendall", "pairwise_rank_agreement",
)
"""Keys of :func:`agreement` that hold a metric (each in [0, 1], or [-1, 1] for the correlations)."""

_ALIASES = {"fa": "feature_agreement", "ra": "rank_agreement", "sa": "sign_agreement",
            "sra": "signed_rank_agreement", "pra": "pairwise_rank_agreement", "rc": "spearman",
            "rho": "spearman", "tau": "kendall"}

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5)
"""ERASER's ``--aopc_thresholds`` default: rationales of the top 1, 5, 10, 20 and 50 % of tokens."""

_RANK_BY = ("abs", "positive")


# ------------------------------------------------------------------ input checks
def _vector(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one score per token (1-D), got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or infinite scores.")
    return arr


def _keep_mask(keep, n: int) -> np.ndarray:
    if keep is None:
        return np.ones(n, dtype=bool)
    arr = np.asarray(keep)
    if arr.shape != (n,):
        raise InputError(f"keep must be a bool mask with one entry per token ({n}), got shape {arr.shape}.")
    if arr.dtype != bool:
        if not np.all(np.isin(arr, (0, 1))):
            raise InputError("keep must be a bool mask (True = include the token), not a list of indices.")
        arr = arr.astype(bool)
    return arr


def _check_rank_by(rank_by: str) -> None:
    if rank_by not in _RANK_BY:
        raise InputError(f"rank_by must be one of {_RANK_BY}, got {rank_by!r}.")


def _order(scores: np.ndarray, keep: np.ndarray, rank_by: str) -> np.ndarray:
    """Indices of the kept tokens, most important first; ties broken by token position (earlier first)."""
    key = np.abs(scores) if rank_by == "abs" else np.maximum(scores, 0.0)
    idx = np.flatnonzero(keep)
    return idx[np.argsort(-key[idx], kind="stable")]


def default_k(n_kept: int) -> int:
    """Krishna et al.'s top-k default used here: a quarter of the kept tokens, rounded half up, at least 1."""
    return int(min(n_kept, max(1, math.floor(0.25 * n_kept + 0.5))))


# --------------------------------------------------------------------- agreement
def agreement(a, b, *, k: int | None = None, keep=None) -> dict[str, Any]:
    """Agreement between two per-token explanations of the same input (Krishna et al. 2022).

    Tokens are ranked by ``|score|`` (attention is non-negative, so comparing it with signed φ would be
    meaningless; ``|φ|`` is what both explainers claim as importance). Top-k metrics:

    * ``feature_agreement`` FA = |top_k(a) ∩ top_k(b)| / k
    * ``rank_agreement`` RA: tokens in both top-k with the same rank in each
    * ``sign_agreement`` SA: tokens in both top-k with the same sign of the raw score
    * ``signed_rank_agreement`` SRA: same rank and same sign

    Whole-set metrics over the kept tokens, on ``|score|``: ``spearman`` ρ and ``kendall`` τ-b (scipy; ties
    get average ranks / the τ-b correction) and ``pairwise_rank_agreement`` PRA, the share of token pairs
    ordered the same way in both (a pair tied in one and not in the other counts as disagreement).

    Ties: ranks are dense ranks of ``|score|`` (tied tokens share a rank; 1 = largest), so tokens tied in
    both vectors agree in rank. Where ties straddle the k-th place, the top-k set takes earlier tokens
    first, so results are deterministic. SA/SRA compare signs, which only mean something between two
    signed explainers (against attention they just ask "is φ positive?").

    Args:
        a: [n] scores of explainer A.
        b: [n] scores of explainer B for the same n tokens.
        k: top-k size; default ``max(1, round(0.25 · n_kept))`` (half up), clipped to ``n_kept``.
        keep: optional bool [n], True for tokens to compare (callers drop special tokens here).

    Returns:
        ``{"n": kept tokens, "k": k used, "feature_agreement", "rank_agreement", "sign_agreement",
        "signed_rank_agreement", "spearman", "kendall", "pairwise_rank_agreement"}`` as Python
        ints/floats. Correlations are NaN when either vector is constant over the kept tokens or fewer
        than two tokens are kept; PRA is NaN below two tokens.

    Raises:
        InputError: shapes differ, scores are not finite, no token is kept, or ``k < 1``.
    """
    a, b = _vector(a, "a"), _vector(b, "b")
    if a.shape != b.shape:
        raise InputError(f"Both explanations must score the same tokens: got {a.size} and {b.size} scores.")
    mask = _keep_mask(keep, a.size)
    a, b = a[mask], b[mask]
    n = int(a.size)
    if n == 0:
        raise InputError("No token is left to compare: keep excludes every token.")
    if k is None:
        k = default_k(n)
    elif int(k) < 1:
        raise InputError(f"k must be at least 1, got {k}.")
    k = int(min(int(k), n))

    abs_a, abs_b = np.abs(a), np.abs(b)
    top_a = np.argsort(-abs_a, kind="stable")[:k]
    top_b = np.argsort(-abs_b, kind="stable")[:k]
    common = np.intersect1d(top_a, top_b)
    rank_a = stats.rankdata(-abs_a, method="dense")
    rank_b = stats.rankdata(-abs_b, method="dense")
    same_rank = rank_a[common] == rank_b[common]
    same_sign = np.sign(a[common]) == np.sign(b[common])

    return {
        "n": n,
        "k": k,
        "feature_agreement": float(common.size / k),
        "rank_agreement": float(same_rank.sum() / k),
        "sign_agreement": float(same_sign.sum() / k),
        "signed_rank_agreement": float((same_rank & same_sign).sum() / k),
        "spearman": _correlation(stats.spearmanr, abs_a, abs_b),
        "kendall": _correlation(stats.kendalltau, abs_a, abs_b),
        "pairwise_rank_agreement": _pairwise_rank_agreement(abs_a, abs_b),
    }


def _correlation(fn, x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(x, y)[0])


def _pairwise_rank_agreement(x: np.ndarray, y: np.ndarray) -> float:
    n = x.size
    if n < 2:
        return float("nan")
    i, j = np.triu_indices(n, k=1)
    return float(np.mean(np.sign(x[i] - x[j]) == np.sign(y[i] - y[j])))


def _canonical_metric(metric: str) -> str:
    name = _ALIASES.get(metric.lower(), metric.lower())
    if name not in AGREEMENT_METRICS:
        raise InputError(f"Unknown agreement metric {metric!r}; choose one of {AGREEMENT_METRICS}.")
    return name


def _check_scores(scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not scores:
        raise InputError("Give at least one explanation to compare.")
    out = {str(name): _vector(vals, f"scores[{name!r}]") for name, vals in scores.items()}
    sizes = {v.size for v in out.values()}
    if len(sizes) != 1:
        raise InputError(f"All explanations must score the same tokens; got lengths {sorted(sizes)}.")
    return out


def agreement_matrix(scores: Mapping[str, np.ndarray], *, metric: str = "spearman", k: int | None = None,
                     keep=None) -> pd.DataFrame:
    """One agreement metric for every pair of explainers.

    Args:
        scores: ``{method: [n] scores}``, all on the same n tokens.
        metric: a key of :func:`agreement` (see ``AGREEMENT_METRICS``) or an alias: fa, ra, sa, sra, pra,
            rho/rc (spearman), tau (kendall).
        k: top-k for the top-k metrics (default as in :func:`agreement`).
        keep: optional bool [n] of tokens to compare.

    Returns:
        Symmetric DataFrame [methods × methods] of floats; the diagonal is 1 where the metric is defined
        (NaN for a correlation of a constant vector with itself). ``attrs`` holds ``metric`` and ``k``.
    """
    vecs = _check_scores(scores)
    metric = _canonical_metric(metric)
    names = list(vecs)
    values = np.full((len(names), len(names)), np.nan)
    used_k = None
    for i, j in combinations(range(len(names)), 2):
        res = agreement(vecs[names[i]], vecs[names[j]], k=k, keep=keep)
        values[i, j] = values[j, i] = res[metric]
    for i, name in enumerate(names):
        res = agreement(vecs[name], vecs[name], k=k, keep=keep)
        values[i, i] = res[metric]
        used_k = res["k"]
    frame = pd.DataFrame(values, index=names, columns=names)
    frame.attrs.update(metric=metric, k=used_k)
    return frame


def agreement_table(scores: Mapping[str, np.ndarray], *, k: int | None = None, keep=None) -> pd.DataFrame:
    """Every agreement metric for every unordered pair of explainers, one row per pair.

    Args:
        scores: ``{method: [n] scores}``, all on the same n tokens.
        k: top-k for the top-k metrics (default as in :func:`agreement`).
        keep: optional bool [n] of tokens to compare.

    Returns:
        DataFrame with columns ``method_a, method_b, n, k`` and every name in ``AGREEMENT_METRICS``;
        pairs in the order of ``scores`` (C(m, 2) rows, empty for one method).
    """
    vecs = _check_scores(scores)
    rows = [{"method_a": a, "method_b": b, **agreement(vecs[a], vecs[b], k=k, keep=keep)}
            for a, b in combinations(list(vecs), 2)]
    return pd.DataFrame(rows, columns=["method_a", "method_b", "n", "k", *AGREEMENT_METRICS])


# ------------------------------------------------------------------ faithfulness
def _evaluate(predict: Predict, masks: np.ndarray) -> np.ndarray:
    """Run ``predict`` once on the distinct rows of ``masks`` [m, n]; return its output for every row [m]."""
    masks = np.ascontiguousarray(masks, dtype=bool)
    uniq, first, inverse = np.unique(masks, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # send rows in the order they were first built
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    batch = np.ascontiguousarray(uniq[order])
    out = np.asarray(predict(batch), dtype=np.float64)
    if out.size != batch.shape[0] or out.ndim > 2 or (out.ndim == 2 and out.shape[1] != 1):
        raise InputError(f"predict must return one number per row of keep_masks ({batch.shape[0]} rows), "
                         f"got shape {out.shape}.")
    return out.reshape(-1)[position[np.asarray(inverse).reshape(-1)]]


def _setup(scores, keep, rank_by: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _check_rank_by(rank_by)
    scores = _vector(scores, "scores")
    keep = _keep_mask(keep, scores.size)
    if not keep.any():
        raise InputError("No token is left to perturb: keep excludes every token.")
    return scores, keep, _order(scores, keep, rank_by)


def eraser(predict: Predict, scores, *, thresholds: Sequence[float] = DEFAULT_THRESHOLDS, keep=None,
           full_output: float | None = None, rank_by: str = "abs") -> dict[str, Any]:
    """ERASER comprehensiveness and sufficiency of soft scores, aggregated as AOPC (DeYoung et al. 2020).

    For each threshold t the rationale r is the top ``ceil(t · n_kept)`` kept tokens by score (ties by
    position). With f the model output:

    * comprehensiveness(t) = f(x) − f(x \\ r): removing the rationale should hurt (higher is better);
    * sufficiency(t) = f(x) − f(r): the rationale alone should do (lower is better); r here keeps the
      non-kept (special) tokens too, which are never removed.

    AOPC is the plain mean over thresholds, 1/|B| Σ_t, as the ERASER code's ``np.average`` does (not
    Samek's 1/(|B|+1) with a k=0 term). Thresholds that give the same rationale size are all counted, as
    in ERASER (ferret skips such duplicates).

    Args:
        predict: ``predict(keep_masks: bool [m, n]) -> [m]``; called exactly once.
        scores: [n] importance per token.
        thresholds: fractions in (0, 1] of the kept tokens; default 1, 5, 10, 20, 50 %.
        keep: optional bool [n]; False tokens (specials) are never removed nor ranked.
        full_output: f(x) if already known; otherwise the full input is added to the batch.
        rank_by: ``"abs"`` ranks by |score|, ``"positive"`` by max(score, 0) (non-positive tokens then
            tie and come in position order).

    Returns:
        ``{"thresholds": [B], "rationale_sizes": [B] ints, "comprehensiveness": [B],
        "sufficiency": [B], "aopc_comprehensiveness", "aopc_sufficiency", "full_output", "n_kept",
        "rank_by", "aggregation"}``; per-threshold values are lists of floats.
    """
    scores, keep, order = _setup(scores, keep, rank_by)
    thresholds = [float(t) for t in thresholds]
    if not thresholds or any(not 0.0 < t <= 1.0 for t in thresholds):
        raise InputError(f"thresholds must be fractions in (0, 1], got {thresholds}.")
    n_kept = int(keep.sum())
    sizes = [min(n_kept, max(1, math.ceil(t * n_kept - 1e-9))) for t in thresholds]

    n = scores.size
    rows = [np.ones(n, dtype=bool)] if full_output is None else []
    for size in sizes:
        without = np.ones(n, dtype=bool)
        without[order[:size]] = False
        rows.append(without)
    for size in sizes:
        only = ~keep
        only[order[:size]] = True
        rows.append(only)
    out = _evaluate(predict, np.stack(rows))
    if full_output is None:
        full, out = float(out[0]), out[1:]
    else:
        full = float(full_output)
    comp = full - out[:len(sizes)]
    suff = full - out[len(sizes):]
    return {
        "thresholds": thresholds,
        "rationale_sizes": [int(s) for s in sizes],
        "comprehensiveness": [float(v) for v in comp],
        "sufficiency": [float(v) for v in suff],
        "aopc_comprehensiveness": float(np.mean(comp)),
        "aopc_sufficiency": float(np.mean(suff)),
        "full_output": full,
        "n_kept": n_kept,
        "rank_by": rank_by,
        "aggregation": "mean over thresholds (np.average, 1/|B|)",
    }


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def deletion_insertion(predict: Predict, scores, *, steps: int | None = None, keep=None,
                       rank_by: str = "abs") -> dict[str, Any]:
    """Deletion and insertion curves with their areas (Samek et al. 2017; Petsiuk et al. 2018).

    Deletion starts from the full input and removes kept tokens most-important-first; a faithful ranking
    makes f drop fast (low AUC is better). Insertion starts from the non-kept (special) tokens alone and
    adds kept tokens most-important-first; f should rise fast (high AUC is better). Both x axes are the
    fraction 0..1 of kept tokens removed/added; AUC uses the trapezoid rule over that axis.

    Args:
        predict: ``predict(keep_masks: bool [m, n]) -> [m]``; called exactly once (shared rows such as
            the full and the empty input are sent once).
        scores: [n] importance per token.
        steps: number of intervals; the token counts are ``round(linspace(0, n_kept, steps + 1))``
            (deduplicated). Default ``min(n_kept, 50)``: every token up to 50, then 51 even points.
        keep: optional bool [n]; False tokens are never removed and always present.
        rank_by: ``"abs"`` (|score|) or ``"positive"`` (max(score, 0)).

    Returns:
        ``{"counts": [p] ints, "fractions": [p], "deletion": [p], "insertion": [p], "deletion_auc",
        "insertion_auc", "full_output", "empty_output", "n_kept", "rank_by"}``. ``deletion[0]`` is f(x)
        and ``deletion[-1]`` f(only non-kept tokens); insertion runs the other way.
    """
    scores, keep, order = _setup(scores, keep, rank_by)
    n_kept = int(keep.sum())
    if steps is None:
        steps = min(n_kept, 50)
    if int(steps) < 1:
        raise InputError(f"steps must be at least 1, got {steps}.")
    counts = np.unique(np.round(np.linspace(0, n_kept, int(steps) + 1)).astype(int))

    n = scores.size
    rows = []
    for c in counts:
        removed = np.ones(n, dtype=bool)
        removed[order[:c]] = False
        rows.append(removed)
    for c in counts:
        added = ~keep
        added[order[:c]] = True
        rows.append(added)
    out = _evaluate(predict, np.stack(rows))
    deletion, insertion = out[:counts.size], out[counts.size:]
    fractions = counts / n_kept
    return {
        "counts": [int(c) for c in counts],
        "fractions": [float(f) for f in fractions],
        "deletion": [float(v) for v in deletion],
        "insertion": [float(v) for v in insertion],
        "deletion_auc": _trapezoid(deletion, fractions),
        "insertion_auc": _trapezoid(insertion, fractions),
        "full_output": float(deletion[0]),
        "empty_output": float(insertion[0]),
        "n_kept": n_kept,
        "rank_by": rank_by,
    }


# --------------------------------------------------------------- random baseline
def random_baseline(fn: Callable[..., dict], predict: Predict, n: int, *, keep=None, repeats: int = 10,
                    seed: int = 0, **kwargs) -> dict[str, Any]:
    """The same faithfulness metric for random token rankings: the chance level to show beside it.

    Each repeat ranks the kept tokens by a uniformly random permutation drawn from
    ``numpy.random.default_rng(seed)``, so results are reproducible. All repeats share **one** ``predict``
    call: ``fn`` is first run against a recorder, the distinct rows of every repeat go to ``predict``
    together, then ``fn`` is replayed on the stored outputs (``fn`` must be deterministic given its
    scores, as :func:`eraser` and :func:`deletion_insertion` are).

    Args:
        fn: a metric called as ``fn(predict, scores, keep=keep, **kwargs)``, e.g. :func:`eraser` or
            :func:`deletion_insertion`.
        predict: ``predict(keep_masks: bool [m, n]) -> [m]``.
        n: number of tokens (length of the score vectors ``fn`` expects).
        keep: optional bool [n] of tokens that may be ranked and removed.
        repeats: number of random rankings (≥ 1).
        seed: seed of the random generator.
        **kwargs: passed on to ``fn`` (thresholds, steps, full_output, rank_by, ...).

    Returns:
        ``{"metric": fn's name, "repeats", "seed", "mean": {...}, "std": {...}}``. ``mean`` has every key
        of ``fn``'s result: numbers and lists of numbers are averaged over repeats, values equal in every
        repeat (thresholds, counts, rank_by, ...) are copied. ``std`` (population, ddof=0) has the numeric
        keys, 0 where all repeats agree.
    """
    if int(repeats) < 1:
        raise InputError(f"repeats must be at least 1, got {repeats}.")
    n = int(n)
    rng = np.random.default_rng(seed)
    rankings = [rng.permutation(n).astype(np.float64) + 1.0 for _ in range(int(repeats))]

    recorded: list[np.ndarray] = []

    def recorder(masks: np.ndarray) -> np.ndarray:
        masks = np.ascontiguousarray(masks, dtype=bool)
        recorded.append(masks.copy())
        return np.zeros(masks.shape[0])

    for scores in rankings:
        fn(recorder, scores, keep=keep, **kwargs)
    every = np.concatenate(recorded)
    values = _evaluate(predict, every)
    lookup = {row.tobytes(): float(v) for row, v in zip(every, values)}

    def replay(masks: np.ndarray) -> np.ndarray:
        masks = np.ascontiguousarray(masks, dtype=bool)
        return np.array([lookup[row.tobytes()] for row in masks])

    runs = [fn(replay, scores, keep=keep, **kwargs) for scores in rankings]
    mean: dict[str, Any] = {}
    std: dict[str, Any] = {}
    for key, first in runs[0].items():
        vals = [run[key] for run in runs]
        numeric = _is_numeric(first)
        if all(_same(v, first) for v in vals):
            mean[key] = first
            if numeric:
                std[key] = [0.0] * len(first) if isinstance(first, list) else 0.0
        elif numeric:
            arr = np.asarray(vals, dtype=np.float64)
            m, s = arr.mean(axis=0), arr.std(axis=0)
            mean[key] = [float(v) for v in m] if arr.ndim == 2 else float(m)
            std[key] = [float(v) for v in s] if arr.ndim == 2 else float(s)
    return {"metric": getattr(fn, "__name__", str(fn)), "repeats": int(repeats), "seed": seed,
            "mean": mean, "std": std}


def _is_numeric(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return isinstance(value, list) and all(isinstance(v, (int, float, np.integer, np.floating))
                                           and not isinstance(v, bool) for v in value)


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except ValueError:
        return False
