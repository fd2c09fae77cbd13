"""Aggregate views of an audit: plain DataFrames computed from the per-example summaries.

Nothing here runs a model. Each function takes an :class:`~attnviz.audit.run.AuditResult`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from ..attention import head_pattern
from .bins import EXACT_ROWS, Bins
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
    return _rank_words(df, k, min_count)


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
    return faithfulness_summary_of(faithfulness(result))


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


# ------------------------------------------------------------------ mergeable partial aggregates
class Partial:
    """Aggregates of some examples that merge with those of others: what a streamed run keeps instead of
    the examples (counts, sums, per-head pattern histograms, word sums for the top-k, per-example scalars
    for the box plots and the output histogram). ``tables()`` gives the same tables as the functions above
    on an :class:`AuditResult` holding every example.

        >>> whole = Partial(methods, slice_columns, layers, heads)
        >>> for shard in shards: whole.merge(Partial(...).add(shard))     # or whole.add(shard)
        >>> whole.tables(label_names)
    """

    def __init__(self, methods=(), slice_columns=(), layers: int = 0, heads: int = 0, exact_rows: int = EXACT_ROWS):
        self.methods, self.slice_columns = tuple(methods), tuple(slice_columns)
        # past exact_rows examples the per-example numbers go to fixed-width bins (O(bins), not O(rows))
        self.exact_rows, self.binned = exact_rows, False
        self.output_bins: dict = {}  # predicted → Bins of f(x)
        self.agreement_bins: dict = {}  # (pair, metric) → Bins
        self.faith_bins: dict = {}  # (method, metric) → Bins
        self.faith_examples: dict = {}  # method → examples with faithfulness
        self.beats_random: dict = {}  # method → [examples whose comprehensiveness beats random's, paired examples]
        self.layers, self.heads = layers, heads
        self.examples = self.ok = 0
        self.head_sum = np.zeros((layers, heads, len(STAT_NAMES)), dtype=np.float64)
        self.head_count = 0
        self.pattern_counts: dict[str, np.ndarray] = {}
        self.word_sums = {m: {} for m in self.methods}  # method → {(predicted, word): [sum, count]}
        self.predicted: dict = {}
        self.labelled: dict = {}  # gold → [labelled, correct]
        self.confusion: dict = {}  # (gold, predicted) → count
        self.slice_stats = {c: {} for c in self.slice_columns}
        self.outputs: list = []  # (status, predicted, output)
        self.agreement_rows: list = []
        self.faith_rows: list = []
        self.any_pair = False

    def add(self, examples) -> Partial:
        """Count ``examples`` (in dataset order) into this partial; returns self."""
        first = self.methods[0] if self.methods else None
        stacks = []
        for ex in examples:
            self.examples += 1
            self.any_pair = self.any_pair or bool(ex.text_pair)
            self.outputs.append((ex.status, ex.predicted, ex.output))
            if ex.status != "ok":
                continue
            self.ok += 1
            if ex.head_stats is not None:
                stacks.append(ex.head_stats)
            for method in self.methods:
                if method not in ex.scores:
                    continue
                sums = self.word_sums[method]
                for word, score in ex.word_scores(method):
                    key = (ex.predicted, word.strip().lower())
                    if not key[1] or all(not c.isalnum() for c in key[1]):
                        continue
                    entry = sums.setdefault(key, [0.0, 0])
                    entry[0] += score
                    entry[1] += 1
            self.predicted[ex.predicted] = self.predicted.get(ex.predicted, 0) + 1
            if ex.gold is not None:
                entry = self.labelled.setdefault(ex.gold, [0, 0])
                entry[0] += 1
                entry[1] += bool(ex.correct)
                self.confusion[(ex.gold, ex.predicted)] = self.confusion.get((ex.gold, ex.predicted), 0) + 1
            for pair, metrics in ex.agreement.items():
                a, _, b = pair.partition("|")
                self.agreement_rows.append({"index": ex.index, "pair": f"{a} vs {b}", "method_a": a, "method_b": b,
                                            **metrics})
            self.faith_rows += [{"index": ex.index, "method": m, **metrics} for m, metrics in ex.faithfulness.items()]
            self._count_faithfulness(ex.faithfulness)
            spearman = (np.nanmean([a.get("spearman", np.nan) for a in ex.agreement.values()])
                        if ex.agreement else None)
            comp = None
            if first and first in ex.faithfulness and ex.faithfulness[first]["comprehensiveness"] is not None:
                comp = ex.faithfulness[first]["comprehensiveness"]
            for column in self.slice_columns:
                s = self.slice_stats[column].setdefault(ex.slices.get(column), {
                    "examples": 0, "comparable": 0, "correct": 0, "outputs": [], "predicted": {},
                    "spearman": [], "comp": []})
                s["examples"] += 1
                if ex.correct is not None:
                    s["comparable"] += 1
                    s["correct"] += bool(ex.correct)
                s["outputs"].append(ex.output)
                s["predicted"][ex.predicted] = s["predicted"].get(ex.predicted, 0) + 1
                if spearman is not None:
                    s["spearman"].append(spearman)
                if comp is not None:
                    s["comp"].append(comp)
        if stacks:
            stats = np.stack(stacks)
            self.head_sum += stats.astype(np.float64).sum(0)
            self.head_count += len(stacks)
            per_example = _patterns(stats)
            for pattern in np.unique(per_example):
                counts = self.pattern_counts.setdefault(pattern, np.zeros(self.layers * self.heads, dtype=np.int64))
                counts += (per_example == pattern).sum(0)
        if self.binned or self.examples > self.exact_rows:
            self._to_bins()
        return self

    def _count_faithfulness(self, faith: dict) -> None:
        random = (faith.get("random") or {}).get("comprehensiveness")
        for method, metrics in faith.items():
            self.faith_examples[method] = self.faith_examples.get(method, 0) + 1
            mine = metrics.get("comprehensiveness")
            if method != "random" and random is not None and mine is not None:
                entry = self.beats_random.setdefault(method, [0, 0])
                entry[0] += bool(mine > random)
                entry[1] += 1

    def _to_bins(self) -> None:
        """Move the per-example lists into bins (their ranges from the values there when this first happens)."""
        gathered: dict = {}
        outputs = pd.DataFrame(self.outputs, columns=["status", "predicted", "output"])
        for label, group in outputs[outputs["status"] == "ok"].groupby("predicted", sort=False):
            gathered.setdefault(("output", label), []).extend(group["output"].tolist())
        for kind, name, rows in (("agreement", "pair", self.agreement_rows), ("faith", "method", self.faith_rows)):
            for row in rows:
                for metric, value in row.items():
                    if metric not in ("index", "pair", "method", "method_a", "method_b"):
                        gathered.setdefault((kind, (row[name], metric)), []).append(value)
        stores = {"output": self.output_bins, "agreement": self.agreement_bins, "faith": self.faith_bins}
        for (kind, key), values in gathered.items():
            store = stores[kind]
            if key in store:
                store[key].add(values)
            else:
                store[key] = Bins.spanning(values)
        for values in self.slice_stats.values():
            for s in values.values():
                for k in ("outputs", "spearman", "comp"):
                    s[k] = RunningMean().extend(s[k])
        self.outputs, self.agreement_rows, self.faith_rows = [], [], []
        self.binned = True

    def merge(self, other: Partial) -> Partial:
        """Add ``other`` (the examples after these) into this partial; returns self."""
        self.examples += other.examples
        self.ok += other.ok
        self.any_pair = self.any_pair or other.any_pair
        self.head_sum += other.head_sum
        self.head_count += other.head_count
        for pattern, counts in other.pattern_counts.items():
            self.pattern_counts[pattern] = self.pattern_counts.get(pattern, 0) + counts
        for method, sums in other.word_sums.items():
            mine = self.word_sums.setdefault(method, {})
            for key, (total, count) in sums.items():
                entry = mine.setdefault(key, [0.0, 0])
                entry[0] += total
                entry[1] += count
        for key, n in other.predicted.items():
            self.predicted[key] = self.predicted.get(key, 0) + n
        for gold, (n, correct) in other.labelled.items():
            entry = self.labelled.setdefault(gold, [0, 0])
            entry[0] += n
            entry[1] += correct
        for key, n in other.confusion.items():
            self.confusion[key] = self.confusion.get(key, 0) + n
        for column, values in other.slice_stats.items():
            mine = self.slice_stats.setdefault(column, {})
            for value, s in values.items():
                if value not in mine:
                    mine[value] = {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list)
                                       else RunningMean().extend(v) if isinstance(v, RunningMean) else v)
                                   for k, v in s.items()}
                    continue
                m = mine[value]
                for k in ("examples", "comparable", "correct"):
                    m[k] += s[k]
                for k in ("outputs", "spearman", "comp"):
                    m[k] = m[k] + list(s[k]) if isinstance(m[k], list) and isinstance(s[k], list) \
                        else RunningMean().extend(m[k]).extend(s[k])
                for label, n in s["predicted"].items():
                    m["predicted"][label] = m["predicted"].get(label, 0) + n
        self.outputs += other.outputs
        self.agreement_rows += other.agreement_rows
        self.faith_rows += other.faith_rows
        for method, n in other.faith_examples.items():
            self.faith_examples[method] = self.faith_examples.get(method, 0) + n
        for method, (wins, pairs) in other.beats_random.items():
            entry = self.beats_random.setdefault(method, [0, 0])
            entry[0] += wins
            entry[1] += pairs
        for mine, theirs in ((self.output_bins, other.output_bins), (self.agreement_bins, other.agreement_bins),
                             (self.faith_bins, other.faith_bins)):
            for key, bins in theirs.items():
                if key in mine:
                    mine[key].merge(bins)
                else:
                    mine[key] = Bins(bins.lo, bins.hi, bins.bins).merge(bins)
        if self.binned or other.binned or self.examples > self.exact_rows:
            self._to_bins()
        return self

    # -------------------------------------------------------------- the tables
    def head_summary(self) -> pd.DataFrame:
        L, H = self.layers, self.heads
        if not self.head_count:
            return pd.DataFrame(columns=["layer", "head", *STAT_NAMES, "pattern", "consistency", "examples"])
        mean = (self.head_sum / self.head_count).astype(np.float32)
        layer, head = np.meshgrid(np.arange(L), np.arange(H), indexing="ij")
        df = pd.DataFrame({"layer": layer.ravel(), "head": head.ravel(),
                           **{name: mean[..., s].ravel() for s, name in enumerate(STAT_NAMES)}})
        df["pattern"] = [head_pattern(row) for row in df.itertuples()]
        zero = np.zeros(L * H, dtype=np.int64)
        df["consistency"] = [self.pattern_counts.get(p, zero)[k] / self.head_count for k, p in enumerate(df["pattern"])]
        df["examples"] = self.head_count
        return df

    def top_tokens(self, method: str | None = None, *, k: int = 10, min_count: int = 2) -> pd.DataFrame:
        method = method or (self.methods[0] if self.methods else None)
        columns = ["predicted", "word", "mean_score", "total_score", "count", "rank"]
        sums = self.word_sums.get(method) if method else None
        if not sums:
            return pd.DataFrame(columns=columns)
        df = pd.DataFrame([(c, w, total / n, total, n) for (c, w), (total, n) in sums.items()], columns=columns[:-1])
        return _rank_words(df, k, min_count)

    def accuracy(self, label_names) -> dict:
        names = {n.lower() for n in label_names}
        labelled = sum(n for n, _ in self.labelled.values())
        keep = [g for g in self.labelled if not names or g.strip().lower() in names]
        comparable = sum(self.labelled[g][0] for g in keep)
        correct = sum(self.labelled[g][1] for g in keep)
        note = ""
        if labelled and not comparable:
            note = (f"The gold labels ({', '.join(sorted(self.labelled)[:5])}) are not among the model's labels "
                    f"({', '.join(label_names)}): no accuracy.")
        confusion = pd.DataFrame()
        if comparable:
            cells = {key: n for key, n in self.confusion.items() if key[0] in keep}
            golds = sorted({g for g, _ in cells})
            preds = sorted({p for _, p in cells})
            confusion = pd.DataFrame([[cells.get((g, p), 0) for p in preds] for g in golds],
                                     index=pd.Index(golds, name="gold"),
                                     columns=pd.Index(preds, name="predicted")).astype("int64")
        return {"labelled": labelled, "comparable": comparable, "correct": correct,
                "accuracy": correct / comparable if comparable else None, "confusion": confusion, "note": note}

    def agreement(self) -> pd.DataFrame:
        rows = self.agreement_rows
        return pd.DataFrame(rows, columns=None if rows else ["index", "pair", "method_a", "method_b", "spearman"])

    def faithfulness(self) -> pd.DataFrame:
        rows = self.faith_rows
        return pd.DataFrame(rows, columns=None if rows else ["index", "method", "comprehensiveness", "sufficiency",
                                                             "deletion_auc", "insertion_auc"])

    def faithfulness_summary(self) -> pd.DataFrame:
        """:func:`faithfulness_summary_of` the rows, or of the bins past ``exact_rows`` examples."""
        if not self.binned:
            return faithfulness_summary_of(self.faithfulness())
        if not self.faith_examples:
            return pd.DataFrame(columns=["method", "examples"])
        rows = []
        for method, n in self.faith_examples.items():
            row = {"method": method, "examples": n}
            for metric in ("comprehensiveness", "sufficiency", "deletion_auc", "insertion_auc"):
                bins = self.faith_bins.get((method, metric))
                row[f"mean_{metric}"] = bins.mean if bins is not None else np.nan
            wins, pairs = self.beats_random.get(method, (0, 0))
            row["beats_random_comprehensiveness"] = wins / pairs if pairs else np.nan
            rows.append(row)
        return pd.DataFrame(rows)

    def boxes(self, kind: str) -> pd.DataFrame:
        """Binned runs: one row per (pair or method, metric) with count, q1, median, q3, mean and whiskers."""
        store = self.agreement_bins if kind == "agreement" else self.faith_bins
        return pd.DataFrame([{"name": name, "metric": metric, **bins.box()} for (name, metric), bins in store.items()])

    def output_histograms(self, bars: int = 20) -> dict:
        """Binned runs: {predicted label: (edges, counts)} of f(x)."""
        return {label: self.output_bins[label].histogram(bars) for label in sorted(self.output_bins)}

    def outputs_frame(self) -> pd.DataFrame:
        """status, predicted and output per example: what the output histogram reads from results.csv."""
        return pd.DataFrame(self.outputs, columns=["status", "predicted", "output"])

    def slices(self, column: str, label_names) -> pd.DataFrame:
        first = self.methods[0] if self.methods else None
        rows = []
        for value, s in self.slice_stats.get(column, {}).items():
            row = {column: value, "examples": s["examples"],
                   "accuracy": s["correct"] / s["comparable"] if s["comparable"] else np.nan,
                   "mean_output": _mean(s["outputs"])}
            for name in label_names:
                row[f"share_{name}"] = s["predicted"].get(name, 0) / s["examples"]
            row["mean_spearman"] = _mean(s["spearman"], skip_nan=True)
            if first:
                row[f"comprehensiveness_{first}"] = _mean(s["comp"])
            rows.append(row)
        return pd.DataFrame(rows).sort_values(column, key=lambda v: v.astype(str)).reset_index(drop=True) if rows \
            else pd.DataFrame(columns=[column, "examples"])

    def summary(self, label_names, *, total: int, cancelled: bool, cache_hits: int, bias: dict) -> dict:
        acc = self.accuracy(label_names)
        heads = self.head_summary()
        predicted = dict(sorted(self.predicted.items(), key=lambda kv: -kv[1]))
        return {
            "examples": self.examples, "total": total, "ok": self.ok, "errors": self.examples - self.ok,
            "cancelled": cancelled, "cache_hits": cache_hits, "predicted": {str(k): int(v) for k, v in predicted.items()},
            "accuracy": acc["accuracy"], "labelled": acc["labelled"], "comparable": acc["comparable"],
            "accuracy_note": acc["note"],
            "head_patterns": heads["pattern"].value_counts().to_dict() if not heads.empty else {},
            "bias_ctf_gap": {row["axis"]: row["ctf_gap"] for row in bias.get("axes", [])},
        }


class RunningMean:
    """Sum and count (NaN counted apart): a slice's mean past ``exact_rows`` examples."""

    def __init__(self):
        self.sum, self.count, self.nan = 0.0, 0, 0

    def extend(self, values) -> RunningMean:
        if isinstance(values, RunningMean):
            self.sum, self.count, self.nan = self.sum + values.sum, self.count + values.count, self.nan + values.nan
            return self
        for v in values:
            self.append(v)
        return self

    def append(self, value) -> None:
        if value is None or value != value:
            self.nan += 1
        else:
            self.sum += float(value)
            self.count += 1

    def __bool__(self) -> bool:
        return bool(self.count or self.nan)


def _mean(values, skip_nan: bool = False) -> float:
    if isinstance(values, RunningMean):
        if not values.count or (values.nan and not skip_nan):
            return np.nan
        return values.sum / values.count
    if not values:
        return np.nan
    return float(np.nanmean(values) if skip_nan else np.mean(values))


def _rank_words(df: pd.DataFrame, k: int, min_count: int) -> pd.DataFrame:
    parts = []
    for _, group in df.groupby("predicted", sort=True):
        frequent = group[group["count"] >= min_count]
        pool = frequent if len(frequent) >= k else group
        best = pool.sort_values(["mean_score", "count"], ascending=[False, False]).head(k).copy()
        best["rank"] = np.arange(1, len(best) + 1)
        parts.append(best)
    return pd.concat(parts, ignore_index=True)


def faithfulness_summary_of(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`faithfulness_summary` of the long table :func:`faithfulness` (or ``Partial.faithfulness()``)."""
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
