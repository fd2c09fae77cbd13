"""The step-through of one head equals the model's own attention (and its attention module's output)."""

import numpy as np
import pytest

import attnviz
from attnviz.errors import InputError
from attnviz.lab.stepthrough import RESCORE, rescore, step_through
from attnviz.lab.train import Trainer
from tests.helpers import random_sentence

TOL = 1e-5


@pytest.mark.parametrize("layer,head", [(0, 0), (2, 7), (5, 11), (-1, 3)])
def test_minilm_head_by_hand_equals_its_attention(default_handle, rng, layer, head):
    text = random_sentence(rng, 10)
    step = step_through(default_handle, text, layer=layer, head=head)
    assert step.family == "bert" and step.q.shape == (len(step.tokens), 32)
    assert step.max_weight_difference < TOL and step.max_output_difference < TOL
    np.testing.assert_allclose(step.weights, default_handle.attention(text).attentions[layer, head], atol=TOL)
    np.testing.assert_allclose(step.weights @ step.v, step.output, atol=1e-5)
    np.testing.assert_allclose(step.weights.sum(-1), 1, atol=1e-6)
    assert step.mask.all()  # one unpadded sentence: BERT attends everywhere


LAB_CONFIGS = [
    {}, {"score": "dot", "mask": "causal"}, {"score": "cosine", "mask": "strided", "stride": 3},
    {"score": "additive", "mask": "local", "window": 2}, {"score": "scaled_dot", "mask": "topk", "top_k": 3},
    {"score": "cosine", "mask": "topk", "top_k": 2, "token_shift": True},
]


@pytest.mark.parametrize("settings", LAB_CONFIGS, ids=lambda s: "-".join(map(str, s.values())) or "default")
def test_lab_model_head_by_hand_equals_its_attention(settings):
    trainer = Trainer("associative_recall", {"num_hidden_layers": 2, **settings})
    trainer.run(max_steps=20)
    handle = attnviz.from_pretrained_model(trainer.frozen_copy(), trainer.tokenizer(), name="lab")
    for layer in (0, 1):
        step = step_through(handle, trainer.probe_text(), layer=layer, head=layer + 1)
        assert step.family == "lab" and step.score == trainer.config.score
        assert step.max_weight_difference < TOL and step.max_output_difference < TOL
        assert (step.weights[~step.mask] == 0).all()
        if trainer.config.mask == "topk":
            assert (step.mask.sum(-1) == trainer.config.top_k).all()


def test_gpt2_like_decoder(tiny_model_dirs):
    handle = attnviz.load_model(str(tiny_model_dirs["gpt2"]))
    step = step_through(handle, "the river sings under the bright city", layer=1, head=2)
    assert step.family == "gpt2" and step.mask_kind == "causal"
    assert (step.mask == np.tril(np.ones_like(step.mask))).all()
    assert step.max_weight_difference < TOL and step.max_output_difference < TOL


def test_rescore_on_the_same_q_and_k(default_handle):
    step = step_through(default_handle, "The cat sat on the mat.", layer=1, head=4)
    np.testing.assert_allclose(rescore(step, "scaled_dot"), step.weights, atol=1e-5)
    for score in RESCORE:
        weights = rescore(step, score, temperature=5.0)
        np.testing.assert_allclose(weights.sum(-1), 1, atol=1e-5)
    dot, scaled = rescore(step, "dot"), rescore(step, "scaled_dot")
    assert dot.max(-1).mean() > scaled.max(-1).mean()  # no 1/√d: peakier rows
    cold, hot = rescore(step, "cosine", temperature=1.0), rescore(step, "cosine", temperature=50.0)
    assert cold.max(-1).mean() < hot.max(-1).mean()
    with pytest.raises(InputError):
        rescore(step, "additive")


def test_causal_lab_rescore_keeps_the_mask():
    trainer = Trainer("copy", {"mask": "causal"})
    handle = attnviz.from_pretrained_model(trainer.frozen_copy(), trainer.tokenizer(), name="lab")
    step = step_through(handle, trainer.probe_text(), layer=0, head=0)
    assert (rescore(step, "cosine")[~step.mask] == 0).all()


def test_bad_requests(default_handle, tiny_model_dirs):
    with pytest.raises(InputError, match="Layer"):
        step_through(default_handle, "hello", layer=6)
    with pytest.raises(InputError, match="Head"):
        step_through(default_handle, "hello", head=12)
    with pytest.raises(InputError, match="empty"):
        step_through(default_handle, "  ")
    with pytest.raises(InputError, match="encoder-decoder"):
        step_through(attnviz.load_model(str(tiny_model_dirs["t5"])), "hello")
