"""Compare-two and generation figures are pure functions: checked on hand-built results, no model."""

import numpy as np
import plotly.graph_objects as go
import pytest

from attnviz.attention import AttentionResult
from attnviz.attribution.result import Attribution
from attnviz.diff import attention_diff, attribution_diff
from attnviz.figures import diff as dfigs
from attnviz.figures import generation as gfigs
from attnviz.generation import GenerationResult
from tests.figures.test_attribution_figures import SCRIPT, raw_script_free


def rows(rng, shape):
    x = rng.random(shape).astype(np.float32) + 0.01
    return x / x.sum(-1, keepdims=True)


def result(tokens, att, name="m"):
    n = len(tokens)
    kinds = tuple("cls" if t == "[CLS]" else "text" for t in tokens)
    return AttentionResult(tuple(tokens), att, tuple(range(att.shape[0])), kinds, np.zeros(n, np.int8),
                           model_name=name)


@pytest.fixture
def diff(rng):
    a = result(["[CLS]", "he", "is", "kind"], rows(rng, (2, 3, 4, 4)))
    b = result(["[CLS]", "she", "is", "very", SCRIPT, "kind"], rows(rng, (2, 3, 6, 6)))
    return a, b, attention_diff(a, b)


def test_attention_diff_heatmap_shows_b_minus_a_with_blank_gaps(diff):
    a, b, d = diff
    fig = dfigs.attention_diff_heatmap(d, 1, 2)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (6, 6)
    # aligned cell "he→she" × "kind": B's (1, 5) minus A's (1, 3)
    np.testing.assert_allclose(z[1, 5], b.attentions[1, 2, 1, 5] - a.attentions[1, 2, 1, 3], atol=1e-6)
    assert np.isnan(z[3]).all() and np.isnan(z[:, 4]).all()  # the two B-only tokens are gaps
    assert fig.data[0].zmid == 0 and fig.data[0].zmin == -fig.data[0].zmax
    assert "only in B" in fig.layout.title.text and "head 2" in fig.layout.title.text
    assert "he→she" in fig.data[0].x and raw_script_free(fig)
    mean = dfigs.attention_diff_heatmap(d, 0)
    expected = b.attentions[0].mean(0)[2, 5] - a.attentions[0].mean(0)[2, 3]
    assert np.asarray(mean.data[0].z, dtype=float)[2, 5] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(IndexError):
        dfigs.attention_diff_heatmap(d, 2)


def test_head_diff_grid_is_mean_abs_difference_per_head(diff):
    a, b, d = diff
    fig = dfigs.head_diff_grid(d)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (2, 3)
    ia, ib = [0, 1, 2, 3], [0, 1, 2, 5]
    expected = np.abs(b.attentions[1, 0][np.ix_(ib, ib)] - a.attentions[1, 0][np.ix_(ia, ia)]).mean()
    assert z[1, 0] == pytest.approx(expected, rel=1e-5)
    assert isinstance(fig.data[0], go.Heatmap)


def test_mean_only_comparison_refuses_a_head(rng):
    a = result(["x", "y"], rows(rng, (2, 2, 2, 2)), name="one")
    b = result(["x", "y"], rows(rng, (2, 4, 2, 2)), name="two")
    d = attention_diff(a, b, level="token")
    assert not d.per_head
    with pytest.raises(ValueError):
        dfigs.attention_diff_heatmap(d, 0, 1)
    assert dfigs.head_diff_grid(d).data[0].x == ("mean over heads",)


def attribution(tokens, scores, method, target="p(pos | x)"):
    return Attribution(tuple(tokens), np.asarray(scores, np.float32), method, target, "pos", 0.7,
                       tuple("text" for _ in tokens), model_name="m")


def test_attribution_figures_show_each_method_and_the_gap():
    a = {m: attribution(["he", "is", "kind"], s, m) for m, s in
         (("ig", [0.5, -0.2, 0.1]), ("lime", [0.0, 0.0, 0.0]))}
    b = {m: attribution(["she", "is", "not", "kind"], s, m) for m, s in
         (("ig", [0.1, 0.3, 0.6, -0.4]), ("lime", [0.0, 0.0, 0.0, 0.0]))}
    d = attribution_diff(a, b, level="token")
    fig = dfigs.attribution_diff_heatmap(d)
    z = np.asarray(fig.data[0].z, dtype=float)
    raw = np.array([0.1 - 0.5, 0.3 + 0.2, np.nan, -0.4 - 0.1])
    np.testing.assert_allclose(z[0], raw / 0.5, atol=1e-6)  # row divided by its max |B − A|
    assert np.isnan(z[1, 2]) and (z[1, [0, 1, 3]] == 0).all()  # all-zero row stays 0, gap stays blank
    assert "only in B" in fig.layout.title.text
    bars = dfigs.attribution_diff_bars(d, "ig")
    np.testing.assert_allclose(np.asarray(bars.data[1].y, dtype=float), [0.1, 0.3, 0.6, -0.4], atol=1e-6)
    assert np.isnan(np.asarray(bars.data[0].y, dtype=float)[2])
    with pytest.raises(ValueError):
        dfigs.attribution_diff_bars(d, "shap")


def generation(rng):
    tokens = ("the", "cat", SCRIPT, "sat", "down")
    att = np.tril(rows(rng, (2, 2, 5, 5)))
    att /= att.sum(-1, keepdims=True)
    res = AttentionResult(tokens, att.astype(np.float32), (0, 1), ("text",) * 5, np.zeros(5, np.int8),
                          readout="last", causal=True)
    return GenerationResult("the cat", (1, 2, 3, 4, 5), 2, "x sat down", np.array([0.2, 0.5, 0.9], np.float32), res)


def test_generation_figures(rng):
    gen = generation(rng)
    probs = gfigs.generated_probabilities(gen, chosen=1)
    np.testing.assert_allclose(np.asarray(probs.data[0].y, dtype=float), [0.2, 0.5, 0.9], atol=1e-6)
    assert probs.data[0].marker.color[1] != probs.data[0].marker.color[0]
    fig = gfigs.token_attention_rows(gen, 1)  # token "sat" at position 3, predicted from row 2
    z = np.asarray(fig.data[0].z, dtype=float)
    np.testing.assert_allclose(z, gen.attention.attentions[:, :, 2, :3].mean(1), atol=1e-6)
    heads = gfigs.token_attention_rows(gen, 1, which="own", layer=1)
    np.testing.assert_allclose(np.asarray(heads.data[0].z, dtype=float), gen.attention.attentions[1, :, 3, :4],
                               atol=1e-6)
    assert raw_script_free(fig) and raw_script_free(heads) and raw_script_free(probs)
    assert "sat" in fig.layout.title.text
