"""How far to trust each explainer: agreement between methods and faithfulness to the model.

Agreement compares |φ| (attention-based scores are non-negative, so signed φ is never compared with
them) on the same units — words by default, subwords summed the same way for every method — with
special tokens dropped. Faithfulness deletes the top-ranked units and re-runs the model (ERASER
comprehensiveness/sufficiency with AOPC, deletion/insertion curves) next to a random ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import metrics
from ..errors import InputError
from ..serialise import Serialisable, serialisable
from .context import AttributionInput, prepare
from .result import Attribution


@serialisable(version=1)
@dataclass(frozen=True)
class Evaluation(Serialisable):
    """Agreement and faithfulness for several attributions of one input and target."""

    units: tuple[str, ...]  # the tokens or words compared
    level: str
    agreement: pd.DataFrame  # long format: method_a, method_b and every agreement metric
    eraser: dict = field(default_factory=dict)  # method -> metrics.eraser result
    curves: dict = field(default_factory=dict)  # method -> metrics.deletion_insertion result
    random_eraser: dict = field(default_factory=dict)  # metrics.random_baseline result
    random_curves: dict = field(default_factory=dict)
    k: int = 0
    rank_by: str = "positive"

    def matrix(self, metric: str = "spearman") -> pd.DataFrame:
        methods = sorted(set(self.agreement["method_a"]) | set(self.agreement["method_b"]),
                         key=lambda m: list(self.eraser).index(m) if m in self.eraser else 99)
        out = pd.DataFrame(np.eye(len(methods)), index=methods, columns=methods)
        for row in self.agreement.itertuples():
            out.loc[row.method_a, row.method_b] = out.loc[row.method_b, row.method_a] = getattr(row, metric)
        out.attrs["metric"] = metric
        return out

    def summary(self) -> pd.DataFrame:
        """One row per method: AOPC comprehensiveness/sufficiency and deletion/insertion AUC."""
        rows = []
        for method, er in self.eraser.items():
            cur = self.curves.get(method, {})
            rows.append({"method": method, "comprehensiveness (AOPC, ↑)": er["aopc_comprehensiveness"],
                         "sufficiency (AOPC, ↓)": er["aopc_sufficiency"],
                         "deletion AUC (↓)": cur.get("deletion_auc"), "insertion AUC (↑)": cur.get("insertion_auc")})
        if self.random_eraser:
            rows.append({"method": "random ranking", "comprehensiveness (AOPC, ↑)":
                         self.random_eraser["mean"]["aopc_comprehensiveness"],
                         "sufficiency (AOPC, ↓)": self.random_eraser["mean"]["aopc_sufficiency"],
                         "deletion AUC (↓)": self.random_curves.get("mean", {}).get("deletion_auc"),
                         "insertion AUC (↑)": self.random_curves.get("mean", {}).get("insertion_auc")})
        return pd.DataFrame(rows)


def evaluate(handle, attributions: dict[str, Attribution], text: str, text_pair: str | None = None, *,
             target=None, level: str = "word", k: int | None = None, faithfulness: bool = True,
             thresholds=metrics.DEFAULT_THRESHOLDS, repeats: int = 10, seed: int = 0,
             rank_by: str = "positive", prepared: AttributionInput | None = None) -> Evaluation:
    """Compare attributions of the same input and target (as returned by ``handle.attribute``).

    Faithfulness ranks units by their positive score by default (what supports f(x)), the same rule
    for every method; agreement always compares |φ|. ``prepared``: the input as the attributions were
    computed on (skips tokenising and binding the target again).
    """
    if level not in ("word", "token"):
        raise InputError("level must be 'word' or 'token'.")
    if not attributions:
        raise InputError("Choose at least one method.")
    first = next(iter(attributions.values()))
    if any(a.tokens != first.tokens or a.target != first.target for a in attributions.values()):
        raise InputError("Attributions must explain the same input and target to be compared.")
    units = {m: (a.to_words() if level == "word" else a) for m, a in attributions.items()}
    unit_tokens = next(iter(units.values())).tokens
    keep = ~next(iter(units.values())).special
    scores = {m: u.scores for m, u in units.items()}
    agreement = metrics.agreement_table(scores, k=k, keep=keep) if len(scores) > 1 else pd.DataFrame(
        columns=["method_a", "method_b", *metrics.AGREEMENT_METRICS])
    k_used = metrics.default_k(int(keep.sum())) if k is None else k
    if not faithfulness:
        return Evaluation(unit_tokens, level, agreement, k=k_used)

    ctx = prepared if prepared is not None else prepare(handle, text, text_pair, target)
    groups = [idx for _, idx in first.words] if level == "word" else [(i,) for i in range(len(first.tokens))]

    def predict(unit_keep: np.ndarray) -> np.ndarray:
        unit_keep = np.atleast_2d(np.asarray(unit_keep, dtype=bool))
        token_keep = np.zeros((len(unit_keep), ctx.n), dtype=bool)
        for u, idx in enumerate(groups):
            token_keep[:, list(idx)] = unit_keep[:, [u]]
        return ctx.predict_keep(token_keep)

    full = ctx.output()
    eraser = {m: metrics.eraser(predict, s, thresholds=thresholds, keep=keep, full_output=full, rank_by=rank_by)
              for m, s in scores.items()}
    curves = {m: metrics.deletion_insertion(predict, s, keep=keep, rank_by=rank_by) for m, s in scores.items()}
    n_units = len(unit_tokens)
    random_eraser = metrics.random_baseline(metrics.eraser, predict, n_units, keep=keep, repeats=repeats,
                                            seed=seed, thresholds=thresholds, full_output=full, rank_by=rank_by)
    random_curves = metrics.random_baseline(metrics.deletion_insertion, predict, n_units, keep=keep,
                                            repeats=repeats, seed=seed, rank_by=rank_by)
    return Evaluation(unit_tokens, level, agreement, eraser, curves, random_eraser, random_curves, k_used, rank_by)
