"""Aggregate views on hand-built results: every number is checked against one computed here."""

import numpy as np
import pandas as pd
import pytest

from attnviz.audit import aggregate
from attnviz.audit.results import STAT_NAMES


def test_head_summary_averages_and_labels_patterns(synthetic_result):
    summary = aggregate.head_summary(synthetic_result)
    assert len(summary) == 2 * 3 and summary["examples"].eq(3).all()
    stacked = np.stack([ex.head_stats for ex in synthetic_result.ok])
    for row in summary.itertuples():
        for s, name in enumerate(STAT_NAMES):
            assert getattr(row, name) == pytest.approx(stacked[:, row.layer, row.head, s].mean(), abs=1e-6)
    by_head = summary.set_index(["layer", "head"])
    assert by_head.loc[(0, 0), "pattern"] == "special tokens" and by_head.loc[(0, 0), "consistency"] == 1.0
    assert by_head.loc[(1, 2), "pattern"] == "previous token" and by_head.loc[(1, 2), "consistency"] == 1.0
    counts = aggregate.pattern_counts(summary)
    assert counts["heads"].sum() == 6


def test_top_tokens_per_predicted_class(synthetic_result):
    top = aggregate.top_tokens(synthetic_result, "integrated_gradients", k=2, min_count=2)
    positive = top[top["predicted"] == "positive"]
    # "great" occurs twice among positive predictions: mean (0.6 + 0.4) / 2
    assert positive.iloc[0]["word"] == "great" and positive.iloc[0]["mean_score"] == pytest.approx(0.5)
    assert positive.iloc[0]["count"] == 2 and positive.iloc[0]["rank"] == 1
    negative = top[top["predicted"] == "negative"]
    assert negative.iloc[0]["word"] == "awful"  # fewer than k frequent words: all words are ranked


def test_accuracy_confusion_and_slices(synthetic_result):
    acc = aggregate.accuracy(synthetic_result)
    assert (acc["labelled"], acc["comparable"], acc["correct"]) == (3, 3, 2)
    assert acc["accuracy"] == pytest.approx(2 / 3)
    assert acc["confusion"].loc["negative", "positive"] == 1
    by_group = aggregate.slices(synthetic_result, "group").set_index("group")
    assert by_group.loc["a", "examples"] == 2 and by_group.loc["a", "accuracy"] == pytest.approx(0.5)
    assert by_group.loc["b", "accuracy"] == 1.0 and by_group.loc["a", "share_positive"] == 1.0
    assert by_group.loc["a", "mean_spearman"] == pytest.approx(0.3)


def test_gold_labels_that_the_model_does_not_know(synthetic_result):
    from dataclasses import replace

    odd = replace(synthetic_result, examples=tuple(replace(e, gold="5 stars") if e.status == "ok" else e
                                                    for e in synthetic_result.examples))
    acc = aggregate.accuracy(odd)
    assert acc["accuracy"] is None and "not among the model's labels" in acc["note"]


def test_agreement_and_faithfulness_tables(synthetic_result):
    agreement = aggregate.agreement(synthetic_result)
    assert agreement["spearman"].tolist() == [0.5, 0.1]
    summary = aggregate.faithfulness_summary(synthetic_result).set_index("method")
    assert summary.loc["integrated_gradients", "mean_comprehensiveness"] == pytest.approx((0.5 + 0.05 + 0.3) / 3)
    assert summary.loc["integrated_gradients", "beats_random_comprehensiveness"] == pytest.approx(2 / 3)
    headline = aggregate.summary(synthetic_result)
    assert headline["errors"] == 1 and headline["ok"] == 3 and headline["predicted"] == {"positive": 2, "negative": 1}


# ------------------------------------------------------------------ binned partials (huge streamed runs)
def many_examples(synthetic_result, n, seed=0):
    """``n`` copies of the synthetic examples with random outputs, agreement and faithfulness."""
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    base = [ex for ex in synthetic_result.examples]
    out = []
    for i in range(n):
        ex = base[i % len(base)]
        if ex.status == "ok":
            faith = {m: {k: float(rng.uniform(-1, 1)) for k in ("comprehensiveness", "sufficiency", "deletion_auc",
                                                                  "insertion_auc")} for m in ("integrated_gradients",
                                                                                              "random")}
            ex = replace(ex, output=float(rng.normal()), faithfulness=faith,
                         agreement={"integrated_gradients|saliency": {"spearman": float(rng.uniform(-1, 1))}})
        out.append(replace(ex, index=i))
    return out


def test_binned_partials_stay_small_and_agree_with_the_exact_ones(synthetic_result):
    from attnviz.audit.report import ReportTables, build_figures

    r = synthetic_result
    examples = many_examples(r, 3000)
    exact = aggregate.Partial(r.methods, r.slice_columns, r.layers, r.heads, exact_rows=10**9).add(examples)
    binned = aggregate.Partial(r.methods, r.slice_columns, r.layers, r.heads, exact_rows=500)
    merged = aggregate.Partial(r.methods, r.slice_columns, r.layers, r.heads, exact_rows=500)
    for start in range(0, len(examples), 250):  # shard by shard, and as merged partials
        binned.add(examples[start:start + 250])
        merged.merge(aggregate.Partial(r.methods, r.slice_columns, r.layers, r.heads, exact_rows=500)
                     .add(examples[start:start + 250]))
    for partial in (binned, merged):
        assert partial.binned and not partial.outputs and not partial.agreement_rows and not partial.faith_rows
        assert partial.summary(r.label_names, total=3000, cancelled=False, cache_hits=0, bias={}) == \
            exact.summary(r.label_names, total=3000, cancelled=False, cache_hits=0, bias={})
        pd.testing.assert_frame_equal(partial.slices("group", r.label_names), exact.slices("group", r.label_names),
                                      atol=1e-9)
        pd.testing.assert_frame_equal(partial.faithfulness_summary(), exact.faithfulness_summary(), atol=1e-9)
        faith = exact.faithfulness()
        boxes = partial.boxes("faithfulness").set_index(["name", "metric"])
        for (method, metric), row in boxes.iterrows():
            values = faith.loc[faith["method"] == method, metric].to_numpy()
            width = 2.2 / 2000 * 1.5  # the bins span the first values ±10 %; one bin (merged: re-binned, two)
            for q, name in ((25, "q1"), (50, "median"), (75, "q3")):
                assert row[name] == pytest.approx(np.percentile(values, q), abs=2 * width), (method, metric, name)
            assert row["count"] == len(values) and row["mean"] == pytest.approx(values.mean(), abs=1e-9)
        histograms = partial.output_histograms()
        ok = [ex for ex in examples if ex.status == "ok"]
        assert {k: int(c.sum()) for k, (_, c) in histograms.items()} == \
            {p: sum(ex.predicted == p for ex in ok) for p in {ex.predicted for ex in ok}}
    tables = ReportTables.streamed(binned, provenance={}, settings={"methods": ["integrated_gradients", "saliency"]},
                                   dataset={}, total=3000, cancelled=False, cache_hits=0, label_names=r.label_names,
                                   bias={}, table_head=exact.outputs_frame().head(3), first_target="")
    figs = build_figures(tables)
    box = figs["faithfulness"].data[0]
    assert box.type == "box" and box.q1 is not None and box.y is None  # quartiles, no per-example points
    assert figs["agreement"].data[0].median is not None and figs["outputs"].data[0].type == "bar"
