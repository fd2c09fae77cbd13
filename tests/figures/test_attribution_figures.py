"""Comparison figures are pure functions: checked on hand-built results, no model."""

import numpy as np
import plotly.graph_objects as go
import pytest

from attnviz.figures import attribution as figs
from attnviz.metrics import agreement_matrix, deletion_insertion, eraser, random_baseline

SCRIPT = "<script>alert(1)</script>"


def strings(obj):
    """Every string anywhere in a figure's plotly JSON (before plotly's own \\u003c escaping)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from strings(value)
    elif isinstance(obj, np.ndarray) and obj.dtype.kind in "OU":
        for value in obj.ravel():
            yield from strings(value)


def raw_script_free(fig: go.Figure) -> bool:
    return not any("<script" in s for s in strings(fig.to_plotly_json()))


def linear(weights):
    w = np.asarray(weights, dtype=np.float64)
    return lambda masks: masks.astype(np.float64) @ w


def test_agreement_heatmap_values_annotations_and_escaping():
    scores = {"attention": np.array([0.1, 0.5, 0.2, 0.9]), SCRIPT: np.array([0.2, 0.4, 0.1, 0.8]),
              "reverse": np.array([0.9, 0.2, 0.5, 0.1])}
    mat = agreement_matrix(scores, metric="spearman")
    fig = figs.agreement_heatmap(mat)
    assert len(fig.data) == 1 and isinstance(fig.data[0], go.Heatmap)
    np.testing.assert_allclose(np.asarray(fig.data[0].z, dtype=float), mat.to_numpy())
    assert fig.data[0].zmin == -1 and fig.data[0].zmax == 1
    assert fig.data[0].text[0][0] == "1.00" and fig.data[0].text[0][1] == f"{mat.iloc[0, 1]:.2f}"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fig.data[0].x
    assert raw_script_free(fig)
    assert "spearman" in fig.layout.title.text


def test_agreement_heatmap_shows_nan_as_na():
    mat = agreement_matrix({"flat": np.ones(4), "ig": np.arange(4.0)}, metric="kendall")
    fig = figs.agreement_heatmap(mat, title="τ <b>")
    assert fig.data[0].text[0][0] == "n/a" and fig.data[0].text[1][1] == "1.00"
    assert fig.layout.title.text == "τ &lt;b&gt;"


def test_token_score_rows_normalises_each_row_and_keeps_repeats_apart():
    tokens = ["[CLS]", "the", SCRIPT, "the", "[SEP]"]
    scores = {"attention": np.array([0.0, 0.2, 0.4, 0.1, 0.0]),
              "IG": np.array([0.0, -3.0, 1.5, 0.75, 0.0]),
              "zero": np.zeros(5)}
    fig = figs.token_score_rows(tokens, scores)
    assert len(fig.data) == 1
    heat = fig.data[0]
    z = np.asarray(heat.z, dtype=float)
    assert z.shape == (3, 5)
    np.testing.assert_allclose(z[0], [0, 0.5, 1.0, 0.25, 0])
    np.testing.assert_allclose(z[1], [0, -1.0, 0.5, 0.25, 0])  # sign kept: blue negative, red positive
    np.testing.assert_array_equal(z[2], 0)  # an all-zero row stays zero, no NaN
    np.testing.assert_allclose(np.asarray(heat.customdata, dtype=float)[1], scores["IG"])  # raw in hover
    assert heat.zmin == -1 and heat.zmax == 1 and heat.colorscale[0][1] != heat.colorscale[-1][1]
    assert list(heat.x) == [0, 1, 2, 3, 4]  # integer positions: the two "the" cannot merge
    ticks = list(fig.layout.xaxis.ticktext)
    assert len(set(ticks)) == 5 and ticks[2] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert heat.text[0][2] == ticks[2]
    assert "customdata" in heat.hovertemplate and "%{y}" in heat.hovertemplate
    assert list(heat.y) == ["attention", "IG", "zero"]
    assert raw_script_free(fig)


def test_token_score_rows_rejects_wrong_length():
    with pytest.raises(ValueError):
        figs.token_score_rows(["a", "b"], {"x": np.ones(3)})


def test_faithfulness_curves_traces_baseline_and_auc():
    w = np.array([0.4, 0.3, 0.2, 0.1])
    predict = linear(w)
    curves = {"true": deletion_insertion(predict, w), SCRIPT: deletion_insertion(predict, w[::-1].copy())}
    base = random_baseline(deletion_insertion, predict, 4, repeats=5)
    fig = figs.faithfulness_curves(curves, baseline=base)
    assert len(fig.data) == 6  # (2 methods + random) × (deletion, insertion)
    true_del, true_ins = fig.data[0], fig.data[1]
    np.testing.assert_allclose(np.asarray(true_del.y), [1.0, 0.6, 0.3, 0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(np.asarray(true_ins.y), [0.0, 0.4, 0.7, 0.9, 1.0], atol=1e-12)
    assert true_del.xaxis == "x" and true_ins.xaxis == "x2"
    assert "AUC 0.375" in true_del.name and "AUC 0.625" in true_ins.name
    dashed = [t for t in fig.data if t.line.dash == "dash"]
    assert len(dashed) == 2 and all(t.name.startswith("random") for t in dashed)
    np.testing.assert_allclose(np.asarray(dashed[0].y), base["mean"]["deletion"])
    assert [t.line.dash for t in fig.data[:4]] == ["solid"] * 4
    titles = " ".join(a.text for a in fig.layout.annotations)
    assert "lower is better" in titles and "higher is better" in titles
    assert raw_script_free(fig)
    # a baseline passed inside the dict is recognised too
    assert len(figs.faithfulness_curves({**curves, "chance": base}).data) == 6


def test_faithfulness_bars_values_baseline_error_bars_and_directions():
    w = np.array([0.4, 0.3, 0.2, 0.1])
    predict = linear(w)
    results = {"true": eraser(predict, w), "<b>rev</b>": eraser(predict, w[::-1].copy())}
    base = random_baseline(eraser, predict, 4, repeats=20, seed=1)
    fig = figs.faithfulness_bars(results, baseline=base)
    assert len(fig.data) == 4  # (methods, baseline) × (comprehensiveness, sufficiency)
    comp, comp_base, suff, suff_base = fig.data
    assert list(comp.x) == ["true", "&lt;b&gt;rev&lt;/b&gt;"]
    np.testing.assert_allclose(comp.y, [results["true"]["aopc_comprehensiveness"],
                                        results["<b>rev</b>"]["aopc_comprehensiveness"]])
    np.testing.assert_allclose(suff.y, [r["aopc_sufficiency"] for r in results.values()])
    assert comp_base.y[0] == pytest.approx(base["mean"]["aopc_comprehensiveness"])
    assert comp_base.error_y.array[0] == pytest.approx(base["std"]["aopc_comprehensiveness"])
    assert suff_base.error_y.array[0] == pytest.approx(base["std"]["aopc_sufficiency"])
    assert base["std"]["aopc_comprehensiveness"] > 0
    assert "higher is better" in fig.layout.yaxis.title.text
    assert "lower is better" in fig.layout.yaxis2.title.text
    assert raw_script_free(fig)


def test_faithfulness_bars_with_deletion_insertion_metrics():
    w = np.array([0.4, 0.3, 0.2, 0.1])
    predict = linear(w)
    merged = {**eraser(predict, w), **deletion_insertion(predict, w)}
    fig = figs.faithfulness_bars({"true": merged, "chance": random_baseline(deletion_insertion, predict, 4)})
    # four metric panels; the deletion/insertion baseline only appears where it has values
    assert len(fig.data) == 6
    assert "lower is better" in fig.layout.yaxis3.title.text and "deletion" in fig.layout.yaxis3.title.text
    assert "higher is better" in fig.layout.yaxis4.title.text and "insertion" in fig.layout.yaxis4.title.text
    names = [t.name for t in fig.data]
    assert names == ["methods", "methods", "methods", "random baseline (mean ± std)", "methods",
                     "random baseline (mean ± std)"]
    assert fig.data[2].y[0] == pytest.approx(0.375) and fig.data[4].y[0] == pytest.approx(0.625)
    with pytest.raises(ValueError):
        figs.faithfulness_bars({"x": {"n": 3}})
