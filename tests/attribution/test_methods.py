"""Each method against an independent reference: captum on a separately loaded model, hand-written
autograd, the model's own eager attentions."""

import threading

import numpy as np
import pytest
import torch
import transformers
from captum.attr import LayerIntegratedGradients

import attnviz
from attnviz.attribution import METHODS, Attribution, prepare, run
from attnviz.attribution.attention_based import grad_attention
from attnviz.errors import InputError
from attnviz.models.loading import default_model_path
from attnviz.models.targets import label_embeddings, mean_pool
from tests.helpers import random_sentence

#: (family, method) pairs that refuse with an InputError by design (ALTI decomposes post-LN BERT blocks only)
UNSUPPORTED = {("gpt2", "alti")}
CAPTUM_METHODS = ["integrated_gradients", "saliency", "input_x_gradient", "gradient_shap", "occlusion", "lime"]


@pytest.fixture(scope="module")
def independent_minilm():
    return transformers.AutoModel.from_pretrained(str(default_model_path())).eval()


def zero_shot_f(model, anchors, index, temperature):
    def f(input_ids, attention_mask, token_type_ids):
        out = model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        z = mean_pool(out.last_hidden_state, attention_mask) @ anchors.T
        return torch.softmax(z / temperature, -1)[:, index]

    return f


def test_integrated_gradients_equal_captum_layer_ig_on_an_independent_model(default_handle, independent_minilm, rng):
    text = random_sentence(rng, 12)
    ctx = prepare(default_handle, text, None, None)
    ours = run(ctx, "integrated_gradients", n_steps=50)  # captum's rule (the default adapts its steps)
    names = [n for n, _ in ctx.scorer.target.labels]
    f = zero_shot_f(independent_minilm, label_embeddings(default_handle, ctx.scorer.target.labels),
                    names.index(ours.label), ctx.scorer.target.temperature)
    lig = LayerIntegratedGradients(f, independent_minilm.embeddings.word_embeddings)
    ref, delta = lig.attribute(ctx.input_ids, baselines=ctx.baseline_ids("pad"),
                               additional_forward_args=(ctx.attention_mask, ctx.token_type_ids),
                               n_steps=50, return_convergence_delta=True)
    np.testing.assert_allclose(ours.scores, ref.sum(-1)[0].detach().numpy(), atol=1e-4)
    assert abs(ours.delta) < 1e-2 and abs(ours.delta - float(delta)) < 1e-4
    # completeness: the scores add up to f(x) − f(baseline)
    assert ours.scores.sum() == pytest.approx(ours.output - ours.settings["baseline_output"], abs=1e-2)
    assert ours.scores[0] == 0 and ours.scores[-1] == 0  # specials are part of the baseline


def test_saliency_and_input_x_gradient_equal_hand_autograd(default_handle, rng):
    ctx = prepare(default_handle, random_sentence(rng, 9), None, None)
    embeds = ctx.embeds.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(ctx.forward_embeds(embeds).sum(), embeds)
    np.testing.assert_allclose(run(ctx, "saliency").scores, grad[0].norm(dim=-1).numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(run(ctx, "input_x_gradient").scores, (grad * ctx.embeds)[0].sum(-1).numpy(),
                               rtol=1e-5, atol=1e-7)


def test_occlusion_is_the_drop_when_one_token_becomes_pad(default_handle, rng):
    ctx = prepare(default_handle, random_sentence(rng, 7), None, None)
    scores = run(ctx, "occlusion").scores
    full = ctx.output()
    pad = default_handle.tokenizer.pad_token_id
    for i in range(1, ctx.n - 1):
        ids = ctx.input_ids.clone()
        ids[0, i] = pad
        with torch.no_grad():
            occluded = float(ctx.scorer(input_ids=ids, attention_mask=ctx.attention_mask,
                                        token_type_ids=ctx.token_type_ids))
        assert scores[i] == pytest.approx(full - occluded, abs=1e-5)
    assert scores[0] == pytest.approx(0, abs=1e-6)


def test_rollout_method_equals_the_attention_result(default_handle, rng):
    text = random_sentence(rng, 10)
    np.testing.assert_allclose(default_handle.attribute(text, "rollout").scores,
                               default_handle.attention(text).rollout_readout(), atol=1e-6)


def test_grad_attention_equals_the_rule_on_eager_attentions(tiny_model_dirs, rng):
    """Chefer's generic rule recomputed from the model's own eager attentions and their gradients."""
    handle = attnviz.load_model(tiny_model_dirs["bert-classifier"])
    ctx = prepare(handle, random_sentence(rng, 8), None, None)
    ours = np.asarray(grad_attention(ctx).scores)
    eager = transformers.BertForSequenceClassification.from_pretrained(
        str(tiny_model_dirs["bert-classifier"]), attn_implementation="eager").eval()
    label = int(ctx.scorer.label.split("_")[-1])
    embeds = eager.bert.embeddings.word_embeddings(ctx.input_ids).detach().requires_grad_(True)
    out = eager(inputs_embeds=embeds, attention_mask=ctx.attention_mask, token_type_ids=ctx.token_type_ids,
                output_attentions=True)
    value = torch.softmax(out.logits, -1)[0, label]
    grads = torch.autograd.grad(value, out.attentions)
    n = ctx.n
    rel = np.eye(n)
    for a, g in zip(out.attentions, grads):
        a_bar = (g * a).clamp(min=0).mean(1)[0].detach().numpy()
        rel = rel + a_bar @ rel
    np.testing.assert_allclose(ours, (rel - np.eye(n))[0], atol=1e-6)


@pytest.mark.parametrize("family,text", [("bert-classifier", "Plain words for a classifier."),
                                         ("bert-mlm", "The capital of France is [MASK]."),
                                         ("gpt2", "Once upon a time there")])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_on_every_tiny_family(tiny_model_dirs, family, text, method):
    handle = attnviz.load_model(tiny_model_dirs[family])
    if (family, method) in UNSUPPORTED:
        with pytest.raises(InputError, match="BERT-style"):
            handle.attribute(text, method)
        return
    result = handle.attribute(text, method)
    assert isinstance(result, Attribution)
    assert result.scores.shape == (len(result.tokens),) and np.all(np.isfinite(result.scores))
    assert 0 <= result.output <= 1 and result.target.startswith("p(")
    if method in ("integrated_gradients",):
        assert abs(result.delta) < 1e-2


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_on_the_default_model(default_handle, method):
    result = default_handle.attribute("A warm, funny and clever film.", method)
    assert result.label == "positive" and np.all(np.isfinite(result.scores))
    words = result.to_words()
    assert words.tokens[1:4] == ("A", "warm", ",")
    assert words.scores.sum() == pytest.approx(result.scores.sum(), abs=1e-5)


def test_seeded_methods_are_reproducible(default_handle):
    text = "Seeds make sampling methods repeatable."
    for method in ("lime", "gradient_shap"):
        a, b = default_handle.attribute(text, method), default_handle.attribute(text, method)
        np.testing.assert_array_equal(a.scores, b.scores)


def test_unknown_method_and_bad_settings_are_input_errors(default_handle):
    with pytest.raises(InputError):
        default_handle.attribute("Hello there.", "telepathy")
    with pytest.raises(InputError):
        default_handle.attribute("Hello there.", "integrated_gradients", n_steps=0)
    with pytest.raises(InputError):
        default_handle.attribute("Hello there.", "saliency", flavour="spicy")
    with pytest.raises(InputError):
        default_handle.attribute("", "saliency")


def test_json_round_trip(default_handle):
    result = default_handle.attribute("Round trip.", "occlusion")
    again = Attribution.from_json(result.to_json())
    np.testing.assert_allclose(again.scores, result.scores)
    assert again.words == result.words and again.target == result.target


def test_concurrent_sessions_get_serial_results(default_handle):
    """Four threads × five methods on the one shared model (captum layer hooks crash here)."""
    texts = ["The soup was cold.", "What a lovely surprise!", "Rain again, how dull.", "Best concert ever."]
    methods = ["integrated_gradients", "grad_attention", "occlusion", "lime", "gradient_shap"]
    serial = {(t, m): default_handle.attribute(t, m).scores for t in texts for m in methods}
    got, errors = {}, []

    def work(text):
        try:
            for m in methods * 2:
                got[(text, m)] = default_handle.attribute(text, m).scores
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for key, scores in serial.items():
        np.testing.assert_allclose(got[key], scores, atol=1e-5)
