"""Bias figures: pure functions of results, with untrusted text escaped."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go

import attnviz.bias as bias
from attnviz.figures import bias as bfigs

TERMS = pd.DataFrame({"axis": ["x", "x", "x", "y", "y"], "group": ["<b>bold</b>", "plain", "other", "u", "v"],
                      "term": ["<b>bold</b>", "plain", "other", "uu", "vv"]})
TEMPLATES = pd.DataFrame({"template": ["The {identity} one.", "A {identity} <i>two</i>."]})


def fake(texts):
    return [0.9 if "bold" in t else 0.3 if "plain" in t else 0.5 for t in texts]


def result_with_where():
    """A counterfactual result with made-up attribution and attention (figures never run a model)."""
    base = bias.counterfactual(None, TEMPLATES, TERMS, target=fake)
    m = len(base.fills)
    rng = np.random.default_rng(0)
    attribution = pd.DataFrame({"attribution_share": rng.uniform(0, 1, m), "attribution_uniform": np.full(m, 0.25)})
    return bias.summarise(base.fills[["fill", "template_id", "template", "polarity", "axis", "group", "term",
                                      "text", "start", "end"]], base.fills["output"], attribution=attribution,
                          attention=rng.uniform(0, 0.5, (m, 2, 3)).astype(np.float32),
                          attention_uniform=np.full(m, 0.2))


def test_counterfactual_figures_escape_terms_and_templates():
    result = result_with_where()
    figures = [bfigs.group_means(result), bfigs.group_means(result, value="deviation"),
               bfigs.gap_distribution(result), bfigs.heads_groups_heatmap(result, "x"),
               bfigs.heads_groups_heatmap(result, "x", centred=False), bfigs.identity_share(result)]
    for fig in figures:
        assert isinstance(fig, go.Figure)
        text = fig.to_json()
        assert "<b>bold" not in text and "<i>two" not in text
    heat = figures[3].data[0]
    assert np.asarray(heat.z).shape == (6, 3) and list(heat.y)[:2] == ["L0 H0", "L0 H1"]
    assert "&lt;b&gt;bold&lt;/b&gt;" in list(heat.x)
    flagged = [t for t in figures[2].data if t.name == "largest gaps"]
    assert flagged and len(flagged[0].x) == result.swaps["flagged"].sum()


def test_weat_and_pair_figures():
    emb = {"a": (1, 0), "b": (0, 1), "<x1>": (1, 0.2), "x2": (2, 1), "y1": (1, 2), "y2": (0.1, 1)}
    r = bias.weat(emb, ["<x1>", "x2"], ["y1", "y2"], ["a"], ["b"], test="<t>")
    fig = bfigs.weat_effects([r])
    assert "&lt;t&gt;" in fig.data[0].y and "p = " in fig.data[0].text[0]
    assoc = bfigs.weat_associations(r)
    assert "<x1>" not in assoc.to_json() and len(assoc.data) == 2

    class Pairs:  # the fields pair_scores reads
        pairs = pd.DataFrame({"sent_more": ["<b>a</b>"], "sent_less": ["b"], "bias_type": ["t"],
                              "score_more": [-3.0], "score_less": [-4.0]})
        metric, scoring = 100.0, "pll"

    pfig = bfigs.pair_scores(Pairs())
    assert "<b>a" not in pfig.to_json() and "100%" in pfig.layout.title.text
