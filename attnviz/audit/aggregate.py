"""Aggregate views of an audit: plain DataFrames computed from the per-example summaries.

Nothing here runs a model. Each function takes an :class:`~attnviz.audit.run.AuditResult`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from ..attention import head_pattern
from .results import STAT_NAMES, AuditResult


def head_summary(result: AuditResult) -> pd.DataFrame:
    """One row per (layer, head): every head statistic averaged over the examples, the pattern of the
    averages (Clark et al.'s thresholds, see :func:`attnviz.attention.head_statistics`) and
    ``consistency``, the share of examples whose own pattern for that head is the same.

    Columns: layer, head, the statistics, pattern, consistency, examples.
    """
    stacks = [ex.head_stats for ex in result.ok if ex.head_stats is not None]
    L, H = result.layers, result.heads
    if not stacks:
        return pd.DataFrame(columns=["layer", "head", *STAT_NAMES, "pattern", "consistency", "examples"])
    stats = np.stack(stacks)  # [examples, L, H, S]
    mean = stats.mean(0)
    layer, head = np.meshgrid(np.arange(L), np.arange(H), indexing="ij")
    df = pd.DataFrame({"layer": layer.ravel(), "head": head.ravel(),
                       **{name: mean[..., s].ravel() for s, name in enumerate(STAT_NAMES)}})
    df["pattern"] = [head_pattern(row) for row in df.itertuples()]
    per_example = _patterns(stats)  # [examples, L*H]
    df["consistency"] = (per_example == df["pattern"].to_numpy()[None, :]).mean(0)
    df["examples"] = len(stacks)
    return df


def _patterns(stats: np.ndarray) -> np.ndarray:
    E, L, H, S = stats.shape
    flat = pd.DataFrame(stats.reshape(E * L * H, S), columns=list(STAT_NAMES))
    return np.array([head_pattern(row) for row in flat.itertuples()], dtype=object).reshape(E, L * H)


def pattern_counts(summary: pd.DataFrame) -> pd.DataFrame:
    """How many heads have each pattern, per layer (columns: layer, pattern, heads)."""
    if summary.empty:
        return pd.DataFrame(columns=["layer", "pattern", "heads"])
    return summary.groupby(["layer", "pattern"]).size().rename("heads").reset_index()


def top_tokens(result: AuditResult, method: str | None = None, *, k: int = 10, min_count: int = 2) -> pd.DataFrame:
    """The most attributed words per predicted class.

    Words are lower-cased, subwords summed, special tokens dropped. Per class and word: ``count``
    (occurrences), ``mean_score`` and ``total_score``; ranked by mean score among words seen at least
    ``min_count`` times (all words when fewer than ``k`` qualify).

    Columns: predicted, word, mean_score, total_score, count, rank.
    """
    method = method or (result.methods[0] if result.methods else None)
    columns = ["predicted", "word", "mean_score", "total_score", "count", "rank"]
    if method is None:
        return pd.DataFrame(columns=columns)
    sums: dict = defaultdict(float)
    counts: dict = defaultdict(int)
    for ex in result.ok:
        if method not in ex.scores:
            continue
        for word, score in ex.word_scores(method):
            key = (ex.predicted, word.strip().lower())
            if not key[1] or all(not c.isalnum() for c in key[1]):
                continue
            sums[key] += score
            counts[key] += 1
    if not sums:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame([(c, w, sums[(c, w)] / counts[(c, w)], sums[(c, w)], counts[(c, w)])
                       for c, w in sums], columns=columns[:-1])
    parts = []
    for _, group in df.groupby("predicted", sort=True):
        frequent = group[group["count"] >= min_count]
        pool = frequent if len(frequent) >= k else group
        best = pool.sort_values(["mean_score", "count"], ascending=[False, False]).head(k).copy()
        best["rank"] = np.arange(1, len(best) + 1)
        parts.append(best)
    return pd.concat(parts, ignore_index=True)


def agreement(result: AuditResult) -> pd.DataFrame:
    """Long format: one row per example and method pair (columns: index, pair, method_a, method_b and the
    stored agreement metrics, on |φ|)."""
    rows = []
    for ex in result.ok:
        for pair, metrics in ex.agreement.items():
            a, _, b = pair.partition("|")
            rows.append({"index": ex.index, "pair": f"{a} vs {b}", "method_a": a, "method_b": b, **metrics})
    return pd.DataFrame(rows, columns=None if rows else ["index", "pair", "method_a", "method_b", "spearman"])


def faithfulness(result: AuditResult) -> pd.DataFrame:
    """Long format: one row per example and method (``random`` = the random-ranking baseline).

    Columns: index, method, comprehensiveness (↑), sufficiency (↓), deletion_auc (↓), insertion_auc (↑).
    """
    rows = [{"index": ex.index, "method": m, **metrics} for ex in result.ok for m, metrics in ex.faithfulness.items()]
    return pd.DataFrame(rows, columns=None if rows else ["index", "method", "comprehensiveness", "sufficiency",
                                                         "deletion_auc", "insertion_auc"])


def faithfulness_summary(result: AuditResult) -> pd.DataFrame:
    """Per method: mean, median and the share of examples beating the random ranking (comprehensiveness)."""
    df = faithfulness(result)
    if df.empty:
        return pd.DataFrame(columns=["method", "examples"])
    metrics = ["comprehensiveness", "sufficiency", "deletion_auc", "insertion_auc"]
    out = df.groupby("method", sort=False)[metrics].mean()
    out.columns = [f"mean_{c}" for c in out.columns]
    out.insert(0, "examples", df.groupby("method", sort=False).size())
    random = df[df["method"] == "random"].set_index("index")["comprehensiveness"]
    beats = {}
    for method, group in df[df["method"] != "random"].groupby("method", sort=False):
        paired = group.set_index("index")["comprehensiveness"].to_frame("m").join(random.rename("r"), how="inner")
        beats[method] = float((paired["m"] > paired["r"]).mean()) if len(paired) else np.nan
    out["beats_random_comprehensiveness"] = pd.Series(beats)
    return out.reset_index()


def accuracy(result: AuditResult) -> dict:
    """Accuracy where gold labels exist and name one of the model's labels (case-insensitive).

    Returns {"labelled", "comparable", "correct", "accuracy" (None when nothing is comparable),
    "confusion" (DataFrame gold × predicted counts), "note"}.
    """
    labelled = [ex for ex in result.ok if ex.gold is not None]
    names = {n.lower() for n in result.label_names}
    comparable = [ex for ex in labelled if not names or ex.gold.strip().lower() in names]
    correct = sum(bool(ex.correct) for ex in comparable)
    note = ""
    if labelled and not comparable:
        seen = sorted({ex.gold for ex in labelled})[:5]
        note = (f"The gold labels ({', '.join(seen)}) are not among the model's labels "
                f"({', '.join(result.label_names)}): no accuracy.")
    confusion = pd.crosstab(pd.Series([ex.gold for ex in comparable], name="gold", dtype=object),
                            pd.Series([ex.predicted for ex in comparable], name="predicted", dtype=object)
                            ) if comparable else pd.DataFrame()
    return {"labelled": len(labelled), "comparable": len(comparable), "correct": correct,
            "accuracy": correct / len(comparable) if comparable else None, "confusion": confusion, "note": note}


def slices(result: AuditResult, column: str) -> pd.DataFrame:
    """Results by the values of a slice column: examples, accuracy (where comparable), mean f(x), the share
    of each predicted label, and the mean agreement and comprehensiveness of the first method."""
    rows = []
    groups: dict = defaultdict(list)
    for ex in result.ok:
        groups[ex.slices.get(column)].append(ex)
    first = result.methods[0] if result.methods else None
    for value, members in groups.items():
        comparable = [e for e in members if e.correct is not None]
        row = {column: value, "examples": len(members),
               "accuracy": np.mean([bool(e.correct) for e in comparable]) if comparable else np.nan,
               "mean_output": float(np.mean([e.output for e in members]))}
        for name in result.label_names:
            row[f"share_{name}"] = float(np.mean([e.predicted == name for e in members]))
        spearman = [np.nanmean([a.get("spearman", np.nan) for a in e.agreement.values()]) for e in members if e.agreement]
        row["mean_spearman"] = float(np.nanmean(spearman)) if spearman else np.nan
        if first:
            comp = [e.faithfulness[first]["comprehensiveness"] for e in members
                    if first in e.faithfulness and e.faithfulness[first]["comprehensiveness"] is not None]
            row[f"comprehensiveness_{first}"] = float(np.mean(comp)) if comp else np.nan
        rows.append(row)
    return pd.DataFrame(rows).sort_values(column, key=lambda s: s.astype(str)).reset_index(drop=True) if rows else \
        pd.DataFrame(columns=[column, "examples"])


def bias_axes(result: AuditResult) -> pd.DataFrame:
    """The bias probe's CTF gap per axis (columns: axis, ctf_gap, ci_low, ci_high, max_gap, largest_swap, …);
    empty when no probe ran."""
    return pd.DataFrame(result.bias.get("axes", []))


def summary(result: AuditResult) -> dict:
    """The headline numbers (plain JSON) for report.json and the page."""
    acc = accuracy(result)
    heads = head_summary(result)
    predicted = pd.Series([ex.predicted for ex in result.ok], dtype=object).value_counts().to_dict()
    return {
        "examples": len(result.examples), "total": result.total, "ok": len(result.ok),
        "errors": len(result.examples) - len(result.ok), "cancelled": result.cancelled,
        "cache_hits": result.cache_hits, "predicted": {str(k): int(v) for k, v in predicted.items()},
        "accuracy": acc["accuracy"], "labelled": acc["labelled"], "comparable": acc["comparable"],
        "accuracy_note": acc["note"],
        "head_patterns": heads["pattern"].value_counts().to_dict() if not heads.empty else {},
        "bias_ctf_gap": {row["axis"]: row["ctf_gap"] for row in result.bias.get("axes", [])},
    }
