"""Audit figures: what each cell/bar shows matches the aggregate table; user text is escaped; empty input
gives a figure with a message."""

import pandas as pd

from attnviz.audit import aggregate
from attnviz.figures import audit as afigs
from tests.audit.synthetic import make_synthetic_result


def test_head_pattern_map_colours_and_texts():
    synthetic_result = make_synthetic_result()
    summary = aggregate.head_summary(synthetic_result)
    fig = afigs.head_pattern_map(summary)
    heat = fig.data[0]
    names = list(heat.colorbar.ticktext)
    for row in summary.itertuples():
        assert names[int(heat.z[row.layer][row.head])] == row.pattern
        assert heat.text[row.layer][row.head] == f"{row.consistency:.0%}"
    special = afigs.head_statistic_map(summary, "special").data[0]
    assert special.z[0][0] == summary.loc[0, "to_cls"] + summary.loc[0, "to_sep"]


def test_words_and_labels_are_escaped():
    synthetic_result = make_synthetic_result()
    top = aggregate.top_tokens(synthetic_result, "integrated_gradients", min_count=1)
    fig = afigs.top_tokens_bars(top, method="integrated_gradients")
    labels = [y for trace in fig.data for y in trace.y]
    assert "&lt;b&gt;x&lt;/b&gt;" in labels and "<b>x</b>" not in labels
    bars = afigs.slice_bars(pd.DataFrame({"g": ["<i>a</i>"], "examples": [2], "accuracy": [0.5],
                                          "mean_output": [0.7]}), "g")
    assert list(bars.data[0].x) == ["&lt;i&gt;a&lt;/i&gt;"] and list(bars.data[0].y) == [0.5]


def test_empty_inputs_draw_a_message():
    for fig in (afigs.agreement_box(pd.DataFrame()), afigs.faithfulness_box(pd.DataFrame()),
                afigs.confusion_heatmap(pd.DataFrame()), afigs.bias_gaps(pd.DataFrame()),
                afigs.top_tokens_bars(pd.DataFrame())):
        assert fig.layout.annotations and not fig.data
