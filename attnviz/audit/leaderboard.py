"""The faithfulness leaderboard: every method scored the same way on a dataset, next to a random ranking.

For each example, each method's scores are turned into word rankings and checked against the model with
:func:`attnviz.attribution.evaluate.evaluate` (ERASER comprehensiveness and sufficiency as AOPC over the
top 1/5/10/20/50 %, deletion and insertion AUC; words deleted, not replaced; ranked by positive score);
the random ranking is scored on the same examples. Each metric's mean over examples gets a 95 % bootstrap
interval (resampling examples). Method agreement is the mean Spearman ρ of |φ| over examples.

    python -m attnviz leaderboard --data reviews --out leaderboard-out --limit 20
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..attribution import METHODS, check_method, prepare, run
from ..attribution.evaluate import evaluate
from ..errors import AttnvizError, InputError
from ..figures.leaderboard import agreement_figure, leaderboard_figure
from ..models.handle import load_model
from ..serialise import Serialisable, serialisable
from .dataset import load_dataset

RANDOM = "random ranking"
#: summary column of :meth:`Evaluation.summary` → (metric name, higher is better?)
METRICS = {"comprehensiveness (AOPC, ↑)": ("comprehensiveness", True), "sufficiency (AOPC, ↓)": ("sufficiency", False),
           "deletion AUC (↓)": ("deletion_auc", False), "insertion AUC (↑)": ("insertion_auc", True)}
BOOTSTRAP = 1000


@serialisable(version=1)
@dataclass(frozen=True)
class Leaderboard(Serialisable):
    """Faithfulness of each method on a dataset.

    ``table``: one row per method (the random ranking last) with each metric's mean and its bootstrap
    interval (``<metric>``, ``<metric>_low``, ``<metric>_high``) and ``examples`` scored. ``per_example``:
    example, method and the four metrics. ``agreement``: method_a, method_b, mean Spearman ρ, examples.
    ``failures``: example, method, message for cells that could not be computed (e.g. over a method's cap).
    """

    table: pd.DataFrame
    per_example: pd.DataFrame
    agreement: pd.DataFrame
    failures: pd.DataFrame
    methods: tuple[str, ...]
    settings: dict = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        return self.table

    def agreement_matrix(self) -> pd.DataFrame:
        """[methods × methods] mean Spearman ρ (1 on the diagonal)."""
        methods = list(self.methods)
        out = pd.DataFrame(np.eye(len(methods)), index=methods, columns=methods)
        for row in self.agreement.itertuples():
            out.loc[row.method_a, row.method_b] = out.loc[row.method_b, row.method_a] = row.spearman
        return out


def bootstrap_interval(values: np.ndarray, *, repeats: int = BOOTSTRAP, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (resampling ``values`` with replacement)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    draws = np.random.default_rng(seed).choice(values, size=(repeats, len(values)), replace=True).mean(1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


def summarise(per_example: pd.DataFrame, methods: Sequence[str], *, seed: int = 0) -> pd.DataFrame:
    """The leaderboard table from per-example metrics: means with bootstrap intervals, per method."""
    rows = []
    for method in [*methods, RANDOM]:
        part = per_example[per_example["method"] == method]
        row = {"method": method, "examples": int(len(part))}
        for name, _ in METRICS.values():
            values = part[name].to_numpy(dtype=float)
            row[name] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            row[f"{name}_low"], row[f"{name}_high"] = bootstrap_interval(values, seed=seed)
        rows.append(row)
    return pd.DataFrame(rows)


def leaderboard(handle, texts: Sequence[str], methods: Sequence[str] | None = None, *, target=None,
                settings: dict | None = None, seed: int = 0,
                progress: Callable[[int, int], None] | None = None) -> Leaderboard:
    """Score ``methods`` (default: every registered method) on ``texts`` and rank them.

    Args:
        handle: a loaded model.
        texts: the examples (e.g. an audit dataset's text column).
        methods: method names; None = all of :data:`~attnviz.attribution.METHODS`.
        target: what f is for every text (None: each text's prediction).
        settings: per method, settings for it (e.g. ``{"shap": {"max_evals": 200}}``).
        progress: called with (examples done, total) after each example.
    """
    methods = tuple(METHODS) if methods is None else tuple(methods)
    if not methods:
        raise InputError("Choose at least one method for the leaderboard.")
    for name in methods:
        check_method(name)
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise InputError("The leaderboard needs at least one non-empty text.")
    settings = settings or {}
    per_example, agreement, failures = [], [], []
    for i, text in enumerate(texts):
        try:
            ctx = prepare(handle, text, None, target)
        except AttnvizError as exc:
            failures.append({"example": i, "method": "*", "message": str(exc)})
            continue
        attributions = {}
        for name in methods:
            try:
                attributions[name] = run(ctx, name, **settings.get(name, {}))
            except AttnvizError as exc:
                failures.append({"example": i, "method": name, "message": str(exc)})
        if attributions:
            ev = evaluate(handle, attributions, text, target=target, prepared=ctx, seed=seed + i)
            for row in ev.summary().to_dict("records"):
                per_example.append({"example": i, "method": row["method"],
                                    **{name: row[column] for column, (name, _) in METRICS.items()}})
            for row in ev.agreement.itertuples():
                agreement.append({"example": i, "method_a": row.method_a, "method_b": row.method_b,
                                  "spearman": row.spearman})
        if progress is not None:
            progress(i + 1, len(texts))
    per_example = pd.DataFrame(per_example, columns=["example", "method", *(n for n, _ in METRICS.values())])
    pairs = pd.DataFrame(agreement, columns=["example", "method_a", "method_b", "spearman"])
    mean_agreement = (pairs.groupby(["method_a", "method_b"], sort=False)["spearman"]
                      .agg(spearman="mean", examples="count").reset_index())
    return Leaderboard(summarise(per_example, methods, seed=seed), per_example, mean_agreement,
                       pd.DataFrame(failures, columns=["example", "method", "message"]), methods,
                       {"examples": len(texts), "units": "word", "rank_by": "positive score",
                        "removal": "deleted words", "aopc_thresholds": [0.01, 0.05, 0.1, 0.2, 0.5],
                        "interval": f"95% percentile bootstrap over examples ({BOOTSTRAP} resamples)",
                        "agreement": "mean Spearman ρ of |φ| over examples", "seed": seed,
                        "method_settings": settings})


# ------------------------------------------------------------------ the command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m attnviz leaderboard",
                                     description="Score every attribution method's faithfulness on a dataset "
                                                 "and write leaderboard.csv, leaderboard.json and figures.")
    parser.add_argument("--data", default="reviews", help="CSV/JSONL/Parquet file or a sample set name (reviews)")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--model", default=None, help="hub id or local directory (default: the bundled MiniLM)")
    parser.add_argument("--methods", nargs="*", default=None, choices=sorted(METHODS), metavar="METHOD",
                        help="default: every method")
    parser.add_argument("--text-column", default=None)
    parser.add_argument("--limit", type=int, default=20, help="score the first N rows (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the leaderboard headless. Exit codes: 0 done; 2 bad input or model (one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        if args.limit is not None and args.limit < 1:
            raise InputError("--limit must be at least 1.")
        dataset = load_dataset(args.data, text_column=args.text_column, limit=args.limit)
        handle = load_model(args.model) if args.model else load_model()
        texts = dataset.frame[dataset.text_column].tolist()
        board = leaderboard(handle, texts, args.methods, seed=args.seed,
                            progress=lambda done, total: print(f"\r{done}/{total} examples", end="",
                                                                file=sys.stderr))
        print(file=sys.stderr)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
    except (AttnvizError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    board.table.to_csv(out / "leaderboard.csv", index=False)
    board.per_example.to_csv(out / "leaderboard_examples.csv", index=False)
    (out / "leaderboard.json").write_text(board.to_json(), encoding="utf-8")
    leaderboard_figure(board).write_html(out / "leaderboard.html", include_plotlyjs=True)
    agreement_figure(board).write_html(out / "agreement.html", include_plotlyjs=True)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(board.table[["method", "examples", *(n for n, _ in METRICS.values())]].to_string(index=False))
    if len(board.failures):
        print(f"{len(board.failures)} method × example cells failed; see leaderboard.json", file=sys.stderr)
    print(f"wrote {out / 'leaderboard.csv'}, leaderboard.json, leaderboard.html, agreement.html")
    return 0
