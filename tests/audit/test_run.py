"""Batched audit runs against the independent reference: the same model's per-example attention() and
attribute() calls on the same texts."""

import numpy as np
import pandas as pd
import pytest

from attnviz.attribution.context import prepare
from attnviz.audit import AuditSettings, prepare_dataset, run_audit
from attnviz.audit.results import STAT_NAMES
from attnviz.errors import InputError
from tests.helpers import random_sentence


def dataset_of(texts, labels=None, **extra):
    frame = pd.DataFrame({"text": texts, **({"label": labels} if labels is not None else {}), **extra})
    return prepare_dataset(frame, label_column="label" if labels is not None else None,
                           slice_columns=list(extra))


@pytest.fixture(scope="module")
def texts():
    rng = np.random.default_rng(7)
    # different lengths, so the batch is padded and every example but the longest sits next to padding
    return [random_sentence(rng, n) for n in (3, 11, 6, 17)]


def test_batched_results_equal_per_example_calls(default_handle, texts):
    settings = AuditSettings(methods=("integrated_gradients", "saliency", "input_x_gradient"), n_steps=6,
                             faithfulness=False, batch_size=4)
    result = run_audit(default_handle, dataset_of(texts), settings, cache_dir=None)
    assert [ex.text for ex in result.examples] == texts and not result.cancelled
    for ex in result.examples:
        assert ex.status == "ok", ex.error
        attention = default_handle.attention(ex.text)
        assert ex.tokens == attention.tokens
        stats = attention.head_statistics()[list(STAT_NAMES)].to_numpy().reshape(ex.head_stats.shape)
        np.testing.assert_allclose(ex.head_stats, stats, atol=2e-5)
        np.testing.assert_allclose(ex.rollout, attention.rollout_readout(), atol=2e-5)
        scorer = prepare(default_handle, ex.text, None, None).scorer
        assert ex.predicted == scorer.label and ex.target == scorer.description
        for label, p in scorer.label_probabilities.items():
            assert ex.probabilities[label] == pytest.approx(p, abs=1e-5)
        for method in settings.methods:
            kwargs = {"n_steps": 6} if method == "integrated_gradients" else {}
            ref = default_handle.attribute(ex.text, method, **kwargs)
            assert ex.output == pytest.approx(ref.output, abs=1e-5)
            np.testing.assert_allclose(ex.scores[method], ref.scores, atol=5e-5, rtol=1e-3, err_msg=method)
        ig = default_handle.attribute(ex.text, "integrated_gradients", n_steps=6)
        assert ex.deltas["integrated_gradients"] == pytest.approx(ig.delta, abs=1e-4)


def test_registry_methods_agreement_and_faithfulness(default_handle, texts):
    settings = AuditSettings(methods=("input_x_gradient", "occlusion"), faithfulness=True, repeats=2, batch_size=2)
    result = run_audit(default_handle, dataset_of(texts[:2]), settings, cache_dir=None)
    for ex in result.examples:
        ref = default_handle.attribute(ex.text, "occlusion")
        np.testing.assert_allclose(ex.scores["occlusion"], ref.scores, atol=1e-5)
        assert set(ex.agreement) == {"input_x_gradient|occlusion"}
        assert -1 <= ex.agreement["input_x_gradient|occlusion"]["spearman"] <= 1
        assert set(ex.faithfulness) == {"input_x_gradient", "occlusion", "random"}
        assert all(v["comprehensiveness"] is not None for v in ex.faithfulness.values())


def test_labels_slices_and_errors_per_example(default_handle):
    texts = ["A wonderful, delightful day.", "\x00\x01", "A terrible, awful mess."]
    ds = prepare_dataset(pd.DataFrame({"text": texts, "label": ["positive", "negative", "negative"],
                                       "group": ["x", "y", "y"]}), label_column="label", slice_columns=["group"])
    result = run_audit(default_handle, ds, AuditSettings(methods=("saliency",), faithfulness=False), cache_dir=None)
    by_text = {ex.text: ex for ex in result.examples}
    bad = by_text["\x00\x01"]
    assert bad.status == "error" and "empty" in bad.error  # control characters only: refused, run goes on
    good = by_text["A wonderful, delightful day."]
    assert good.gold == "positive" and good.slices == {"group": "x"} and good.correct is (good.predicted == "positive")
    table = result.to_dataframe()
    assert list(table["index"]) == [0, 1, 2] and table.loc[1, "status"] == "error"
    assert "p(positive)" in table and "top_saliency" in table


@pytest.mark.parametrize("family", ["bert-classifier", "gpt2"])
def test_other_model_kinds(tiny_model_dirs, family):
    import attnviz

    handle = attnviz.load_model(str(tiny_model_dirs[family]), device="cpu")
    texts = ["Some words here.", "A longer sentence with a few more words in it."]
    result = run_audit(handle, dataset_of(texts), AuditSettings(methods=("integrated_gradients",), n_steps=4,
                                                                faithfulness=False), cache_dir=None)
    for ex in result.examples:
        assert ex.status == "ok", ex.error
        ref = handle.attribute(ex.text, "integrated_gradients", n_steps=4)
        assert ex.predicted == ref.label
        np.testing.assert_allclose(ex.scores["integrated_gradients"], ref.scores, atol=5e-5, rtol=1e-3)
        assert ex.head_stats.shape == (handle.num_layers, handle.num_heads, len(STAT_NAMES))


def test_settings_are_validated():
    with pytest.raises(InputError, match="Unknown method"):
        AuditSettings(methods=("magic",))
    with pytest.raises(InputError, match="steps"):
        AuditSettings(n_steps=0)


def test_bias_probe_summary_is_the_counterfactual_probe(default_handle):
    import attnviz.bias as bias
    from attnviz.audit import aggregate

    settings = AuditSettings(methods=(), faithfulness=False, bias_axes=("religion",))
    result = run_audit(default_handle, dataset_of(["A calm evening."]), settings, cache_dir=None)
    reference = bias.counterfactual(default_handle, axes=["religion"], method=None, attention=False)
    table = aggregate.bias_axes(result)
    assert table["axis"].tolist() == ["religion"]
    assert table["ctf_gap"].iloc[0] == pytest.approx(reference.axes["ctf_gap"].iloc[0], abs=1e-6)
    assert result.bias["sentences"] == len(reference.fills)
    with pytest.raises(InputError, match="Unknown bias axis"):
        run_audit(default_handle, dataset_of(["x"]), AuditSettings(methods=(), bias_axes=("planets",)), cache_dir=None)


def test_sentence_pairs_match_per_example_calls(default_handle):
    frame = pd.DataFrame({"a": ["A man is sleeping.", "Dogs bark loudly at the quiet postman every morning."],
                          "b": ["Someone rests.", "It rains."]})
    ds = prepare_dataset(frame, text_column="a", pair_column="b")
    result = run_audit(default_handle, ds, AuditSettings(methods=("saliency", "integrated_gradients"), n_steps=4,
                                                         faithfulness=False), cache_dir=None)
    for ex in result.examples:
        assert ex.status == "ok" and ex.text_pair
        attention = default_handle.attention(ex.text, ex.text_pair)
        assert ex.tokens == attention.tokens
        stats = attention.head_statistics()[list(STAT_NAMES)].to_numpy().reshape(ex.head_stats.shape)
        np.testing.assert_allclose(ex.head_stats, stats, atol=2e-5)
        for method, kwargs in (("saliency", {}), ("integrated_gradients", {"n_steps": 4})):
            ref = default_handle.attribute(ex.text, method, text_pair=ex.text_pair, **kwargs)
            np.testing.assert_allclose(ex.scores[method], ref.scores, atol=5e-5, rtol=1e-3, err_msg=method)
