"""Counterfactual probes: gap arithmetic on a fake scorer, batched numbers against per-sentence
references on the default model, and every target kind on tiny random models."""

import json

import numpy as np
import pandas as pd
import pytest

import attnviz
import attnviz.bias as bias
from attnviz.attribution.context import prepare
from attnviz.errors import InputError
from attnviz.models.targets import (
    ClassTarget,
    MaskedTokenTarget,
    NextTokenTarget,
    SimilarityTarget,
    ZeroShotTarget,
)

TERMS = pd.DataFrame({
    "axis": ["letters"] * 4 + ["colours"] * 2,
    "group": ["first", "first", "second", "third", "warm", "cold"],
    "term": ["alpha", "delta", "beta", "gamma", "red", "blue"],
})
TEMPLATES = pd.DataFrame({"template": ["{identity} one.", "The {identity} two."], "polarity": ["positive", "negative"]})
VALUES = {"alpha": 0.9, "delta": 0.9, "beta": 0.5, "gamma": 0.5, "red": 0.2, "blue": 0.2}


def fake_scorer(texts):
    """A 'model' that only looks at which term is in the sentence."""
    return [next(v for k, v in VALUES.items() if k in t.lower()) for t in texts]


def test_gap_on_a_fake_scorer_by_hand():
    result = bias.counterfactual(None, TEMPLATES, TERMS, target=fake_scorer, flag_top=4)
    letters = result.axes.set_index("axis").loc["letters"]
    # per template: alpha, delta (first) → mean over {beta, gamma} of 0.4 = 0.4 each;
    # beta (second) → mean over {alpha, delta, gamma} = (0.4 + 0.4 + 0) / 3; gamma likewise
    expected = (0.4 + 0.4 + 0.8 / 3 + 0.8 / 3) / 4
    assert letters["ctf_gap"] == pytest.approx(expected)
    assert result.axes.set_index("axis").loc["colours", "ctf_gap"] == pytest.approx(0.0)
    assert bias.ctf_gap(np.array([0.9, 0.9, 0.5, 0.5]), np.array(["f", "f", "s", "t"])) == pytest.approx(expected)
    # swaps only between groups: alpha↔delta (same group) never appears
    swaps = result.swaps
    assert not ((swaps["term_a"] == "alpha") & (swaps["term_b"] == "delta")).any()
    assert len(swaps[swaps["axis"] == "letters"]) == 2 * 5 and len(swaps[swaps["axis"] == "colours"]) == 2
    # the four largest swaps (0.4) are flagged, ties broken by order; zero gaps never are
    flagged = result.flagged()
    assert len(flagged) == 4 and np.allclose(flagged["gap"], 0.4)
    assert not swaps.loc[swaps["gap"] == 0, "flagged"].any()
    # the capitalised slot at the start of a sentence, and the span is the term
    fills = result.fills
    first = fills[fills["template_id"] == 0].iloc[0]
    assert first["text"].startswith("Alpha one") and first["text"][first["start"]:first["end"]] == "Alpha"


def test_group_means_come_with_bootstrap_intervals_that_contain_them():
    rng = np.random.default_rng(0)
    noisy = lambda texts: [VALUES[next(k for k in VALUES if k in t.lower())] + rng.normal(0, 0.05) for t in texts]  # noqa: E731
    templates = pd.DataFrame({"template": [f"The {{identity}} thing number {i}." for i in range(12)]})
    result = bias.counterfactual(None, templates, TERMS, target=noisy)
    g = result.groups
    assert (g["ci_low"] <= g["mean_output"]).all() and (g["mean_output"] <= g["ci_high"]).all()
    assert (g["deviation_ci_low"] <= g["mean_deviation"]).all() and (g["mean_deviation"] <= g["deviation_ci_high"]).all()
    assert (g["ci_high"] - g["ci_low"] > 0).all()
    again = bias.counterfactual(None, templates, TERMS, target=lambda texts: result.fills["output"].to_numpy())
    assert np.allclose(again.groups["ci_low"], g["ci_low"])  # fixed seed: same intervals for the same numbers
    a = result.axes.set_index("axis").loc["letters"]
    assert a["ci_low"] <= a["ctf_gap"] <= a["ci_high"]


def test_bootstrap_ci_basics():
    values = np.array([0.1, 0.4, 0.3, 0.2, 0.35])
    lo, hi = bias.bootstrap_ci(values, seed=1)
    assert lo <= values.mean() <= hi and (lo, hi) == bias.bootstrap_ci(values, seed=1)
    assert bias.bootstrap_ci([0.7]) == (0.7, 0.7)
    assert np.isnan(bias.bootstrap_ci([])[0])


def test_fill_validation_errors():
    with pytest.raises(InputError, match="slot"):
        bias.fill_templates(pd.DataFrame({"template": ["no slot"]}), TERMS)
    with pytest.raises(InputError, match="Unknown axis"):
        bias.fill_templates(TEMPLATES, TERMS, axes=["planets"])
    with pytest.raises(InputError, match=r"\{mask\}"):
        bias.fill_templates(TEMPLATES, TERMS, mode="mask", mask_token="[MASK]")
    many = pd.DataFrame({"template": [f"{{identity}} {i}." for i in range(1000)]})
    with pytest.raises(InputError, match="limit"):
        bias.fill_templates(many, TERMS)
    prefix = bias.fill_templates(pd.DataFrame({"template": ["The {identity} person is {mask}."]}), TERMS,
                                 mode="prefix")
    assert prefix["text"].iloc[0] == "The alpha person is"


# ------------------------------------------------------------------ default model
@pytest.fixture(scope="module")
def zero_shot_run(default_handle):
    target = ZeroShotTarget(label="positive")
    terms = bias.read_csv((bias.assets.ASSETS / "identity_terms.csv").read_bytes(), "terms")
    templates = bias.assets.load("templates").iloc[[0, 7, 12]]
    return target, bias.counterfactual(default_handle, templates, terms, target=target, axes=["religion", "age"])


def test_zero_shot_probe_runs_on_the_default_model(default_handle, zero_shot_run):
    target, result = zero_shot_run
    fills = result.fills
    assert len(fills) == 3 * 12 and result.attention.shape == (len(fills), 6, 12)
    assert fills["output"].between(0, 1).all() and "p(positive | x)" in result.target
    assert fills["attribution_share"].between(0, 1).all() and fills["attribution_uniform"].between(0, 1).all()
    assert set(result.axes["axis"]) == {"religion", "age"} and result.axes["ctf_gap"].ge(0).all()
    # batched f equals the one-sentence scorer the attribution page uses
    for i in (0, 17, 35):
        ctx = prepare(default_handle, fills["text"].iloc[i], None, target)
        assert fills["output"].iloc[i] == pytest.approx(ctx.output(), abs=1e-5)
    doc = json.loads(result.to_json())
    assert doc["attention_shape"] == [36, 6, 12] and len(doc["swaps"]) == len(result.swaps)


def test_attribution_share_matches_a_single_sentence_attribution(default_handle, zero_shot_run):
    target, result = zero_shot_run
    row = result.fills[result.fills["term"] == "middle-aged"].iloc[0]
    att = default_handle.attribute(row["text"], "input_x_gradient", target=target)
    tokens = [t for t, k in zip(att.tokens, att.kinds) if k not in ("cls", "sep", "special")]
    scores = np.abs(att.scores)[[k not in ("cls", "sep", "special") for k in att.kinds]]
    term = [i for i, t in enumerate(tokens) if t in ("middle", "-", "aged")]
    assert len(term) == 3  # "middle-aged" is three tokens
    assert row["attribution_share"] == pytest.approx(scores[term].sum() / scores.sum(), rel=1e-3)
    assert row["attribution_uniform"] == pytest.approx(3 / len(tokens))


def test_attention_mass_matches_the_attention_result(default_handle, zero_shot_run):
    _, result = zero_shot_run
    i = int(np.flatnonzero(result.fills["term"] == "Muslim")[0])
    row = result.fills.iloc[i]
    att = default_handle.attention(row["text"])
    term = np.array([t == "muslim" for t in att.tokens])
    queries = ~att.special
    expected = att.attentions[:, :, queries][..., term].sum(-1).mean(-1)
    assert np.allclose(result.attention[i], expected, atol=1e-5)
    assert row["attention_uniform"] == pytest.approx(term.sum() / len(att.tokens))
    matrix = result.head_group_matrix("religion", centred=True)
    assert matrix.shape == (72, 7) and np.allclose(matrix.sum(axis=1), 0, atol=1e-5)
    assert len(result.divergent_heads("religion", top=5)) == 5


def test_similarity_target_and_integrated_gradients(default_handle):
    templates = bias.assets.load("templates").iloc[[0, 1]]
    result = bias.counterfactual(default_handle, templates, target=SimilarityTarget("A great engineer."),
                                 axes=["gender"], method="integrated_gradients", n_steps=4, attention=False)
    assert result.attention is None and result.method == "integrated_gradients"
    assert result.fills["attribution_share"].between(0, 1).all() and result.fills["output"].between(-1, 1).all()


# ------------------------------------------------------------------ tiny random models
@pytest.mark.parametrize("family,target", [
    ("bert-classifier", ClassTarget(1)),
    ("bert-classifier", None),
    ("bert-mlm", MaskedTokenTarget(None)),
    ("bert-mlm", MaskedTokenTarget("good")),
    ("gpt2", NextTokenTarget(None)),
    ("bert", None),
])
def test_every_target_kind_runs_on_tiny_models(tiny_model_dirs, family, target):
    handle = attnviz.load_model(str(tiny_model_dirs[family]), device="cpu")
    kind = "templates" if family in ("bert-classifier", "bert") else "masked_templates"
    templates = bias.assets.load(kind).iloc[:3]
    result = bias.counterfactual(handle, templates, target=target, axes=["gender", "disability"])
    fills = result.fills
    assert fills["output"].notna().all() and np.isfinite(result.axes["ctf_gap"]).all()
    assert result.attention.shape == (len(fills), handle.num_layers, handle.num_heads)
    assert np.isfinite(result.attention).all() and fills["attention_uniform"].between(0, 1).all()
    assert fills["attribution_share"].between(0, 1).all()
    if family == "bert-mlm":
        assert fills["text"].str.contains(r"\[MASK\]", regex=True).all()
    if family == "gpt2":  # causal: the prompt is the template up to {mask}
        assert not fills["text"].str.contains("MASK").any()
    if target is not None and getattr(target, "token", 0) is None:
        # no fixed label: each template explains its own top prediction, the same for all its fills
        assert fills.groupby("template_id")["label"].nunique().eq(1).all()


def test_encoder_decoder_models_are_refused(tiny_model_dirs):
    handle = attnviz.load_model(str(tiny_model_dirs["t5"]), device="cpu")
    with pytest.raises(InputError, match="encoder-decoder"):
        bias.counterfactual(handle, axes=["gender"])
