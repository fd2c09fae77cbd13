"""SHAP (Partition) against the plain shap call, on the default model and on tiny random models.

The reference is what a user would write: ``shap.Explainer(f, shap.maskers.Text(tokenizer, ...))``
with f tokenising strings (or taking id rows) and running the same target. Our explainer masks token
ids and leaves special tokens out of the game; the values agree wherever the masking means the same
thing and both explainers expand the whole partition tree within ``max_evals`` (then the order in
which shap refines the tree, and so its batch size, cannot matter).
"""

import threading

import numpy as np
import pytest
import shap
import torch

import attnviz
from attnviz.attribution import METHODS, prepare, run
from attnviz.attribution.shap_method import _text_tree
from attnviz.errors import InputError
from tests.helpers import random_sentence


def plain_string_f(ctx):
    """f(list of strings) -> [rows]: tokenise and run the same target (the usual shap recipe)."""
    tok = ctx.handle.tokenizer

    def f(strings):
        enc = tok(list(strings), padding=True, return_tensors="pt")
        with torch.inference_mode():
            return ctx.scorer(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                              token_type_ids=enc.get("token_type_ids")).numpy()

    return f


def plain_ids_f(ctx):
    """f(id rows [rows, n]) -> [rows] for shap's Text masker with output_type="token_ids"."""

    def f(ids):
        ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
        with torch.inference_mode():
            return ctx.scorer(input_ids=ids, attention_mask=torch.ones_like(ids),
                              token_type_ids=torch.zeros_like(ids)).numpy()

    return f


def assert_adds_up(result, ctx):
    assert result.base_value + float(result.scores.sum()) == pytest.approx(result.output, abs=1e-4)
    assert result.output == pytest.approx(ctx.output(), abs=1e-4)
    assert abs(result.delta) < 1e-4
    fixed = ctx.fixed_mask
    assert np.all(result.scores[fixed] == 0)


def test_shap_is_registered():
    assert "shap" in METHODS


def test_values_equal_the_plain_shap_call_with_deleted_tokens(default_handle, rng):
    text = random_sentence(rng, 9)
    ctx = prepare(default_handle, text, None, None)
    # whole-word tokens only: deleting a word from the string = deleting its id (no subword merges)
    assert all(len(idx) == 1 for _, idx in ctx.encoding.words)
    ours = run(ctx, "shap")
    explainer = shap.Explainer(plain_string_f(ctx), shap.maskers.Text(default_handle.tokenizer, mask_token=""))
    np.random.seed(0)
    plain = explainer([text], max_evals=500, silent=True)
    assert explainer.last_eval_count < 498  # the whole tree was expanded: the order cannot matter
    np.testing.assert_allclose(ours.scores, plain.values[0], atol=1e-5)
    assert ours.base_value == pytest.approx(float(plain.base_values[0]), abs=1e-6)
    assert ours.settings["mask"] == "deleted tokens" and ours.settings["max_evals"] == 500
    assert "Text" in ours.settings["clustering"]
    # specials are not players, so ours needs fewer evaluations for the same values
    assert ours.settings["evaluations"] < explainer.last_eval_count + 2
    assert_adds_up(ours, ctx)


def test_values_equal_the_plain_shap_call_with_mask_tokens_even_across_subwords(default_handle, rng):
    text = random_sentence(rng, 6) + " unbelievably tokenisation"
    ctx = prepare(default_handle, text, None, None)
    assert any(len(idx) > 1 for _, idx in ctx.encoding.words)
    ours = run(ctx, "shap", mask="mask", max_evals=1000)
    tok = default_handle.tokenizer
    explainer = shap.Explainer(plain_ids_f(ctx), shap.maskers.Text(tok, mask_token=tok.mask_token_id,
                                                                   output_type="token_ids"))
    np.random.seed(0)
    plain = explainer([text], max_evals=1000, silent=True)
    assert explainer.last_eval_count < 998
    np.testing.assert_allclose(ours.scores, plain.values[0], atol=1e-5)
    assert ours.base_value == pytest.approx(float(plain.base_values[0]), abs=1e-5)
    assert ours.settings["mask"] == "[MASK] token"
    assert_adds_up(ours, ctx)


@pytest.mark.parametrize("text", [
    "The engineer walked quietly under the heavy storm, sadly.",
    "But the soup (honestly) was unbelievably cold; And the waiter didn't care!",
    "Tokenisation splits rare words: hyperparameterisation, multi-lingual, 3.5pm.",
    "Paris is the [MASK] of France, or so they say.",
])
def test_partition_tree_is_shaps_text_masker_tree(default_handle, text):
    ctx = prepare(default_handle, text, None, None)
    np.testing.assert_array_equal(_text_tree(ctx), shap.maskers.Text(default_handle.tokenizer).clustering(text))


def test_adds_up_on_the_default_model_with_a_truncated_tree(default_handle, rng):
    text = random_sentence(rng, 30)
    ctx = prepare(default_handle, text, None, None)
    result = run(ctx, "shap", max_evals=120)
    assert result.settings["evaluations"] == 120  # budget spent: unrefined groups share their credit
    assert_adds_up(result, ctx)


@pytest.mark.parametrize("mask", ["delete", "mask", "pad", "unk"])
@pytest.mark.parametrize("family,text", [("bert-classifier", None), ("bert-mlm", "Paris is the [MASK] of France ."),
                                         ("gpt2", None)])
def test_adds_up_on_tiny_models(tiny_model_dirs, rng, family, text, mask):
    handle = attnviz.load_model(tiny_model_dirs[family])
    ctx = prepare(handle, text or random_sentence(rng, 8), None, None)
    result = run(ctx, "shap", mask=mask, max_evals=100)
    assert_adds_up(result, ctx)
    if family == "bert-mlm":  # the predicted mask is never masked and scores 0
        assert result.scores[ctx.encoding.tokens.index("[MASK]")] == 0


def test_text_pairs_and_tiny_inputs(tiny_model_dirs, rng):
    handle = attnviz.load_model(tiny_model_dirs["bert-classifier"])
    ctx = prepare(handle, random_sentence(rng, 5), random_sentence(rng, 4), None)
    assert_adds_up(run(ctx, "shap", max_evals=100), ctx)
    one = prepare(handle, "Hello", None, None)  # a single player: its value is f(x) - f(specials)
    result = run(one, "shap")
    assert_adds_up(result, one)
    mlm = attnviz.load_model(tiny_model_dirs["bert-mlm"])
    alone = prepare(mlm, "[MASK]", None, None)  # nothing to mask at all
    result = run(alone, "shap")
    assert np.all(result.scores == 0) and result.base_value == pytest.approx(result.output)


def test_batch_size_does_not_matter_when_the_tree_is_expanded(default_handle, rng):
    ctx = prepare(default_handle, random_sentence(rng, 8), None, None)
    a, b = run(ctx, "shap"), run(ctx, "shap", batch_size=5)
    assert a.settings["evaluations"] < 500
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
    assert b.settings["model_calls"] > a.settings["model_calls"]


def test_deterministic(default_handle, rng):
    ctx = prepare(default_handle, random_sentence(rng, 25), None, None)
    a, b = run(ctx, "shap", max_evals=200), run(ctx, "shap", max_evals=200)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.base_value == b.base_value


def test_concurrent_sessions_get_serial_results(default_handle, rng):
    """Four threads × SHAP on the one shared model give what a serial run gives."""
    texts = [random_sentence(rng, 10) for _ in range(4)]
    serial = {t: default_handle.attribute(t, "shap", max_evals=200).scores for t in texts}
    got, errors = {}, []

    def work(text):
        try:
            for _ in range(2):
                got.setdefault(text, []).append(default_handle.attribute(text, "shap", max_evals=200).scores)
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for text, scores in serial.items():
        for again in got[text]:
            np.testing.assert_allclose(again, scores, atol=1e-6)


def test_bad_settings_are_input_errors(default_handle):
    with pytest.raises(InputError):
        default_handle.attribute("Hello there.", "shap", mask="blank")
    with pytest.raises(InputError):
        default_handle.attribute("Hello there.", "shap", max_evals=1)
    with pytest.raises(InputError):
        default_handle.attribute("Hello there.", "shap", batch_size=0)
