"""Aggregate views on hand-built results: every number is checked against one computed here."""

import numpy as np
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
