"""Targets: the explained number must be the model's own (checked against sentence-transformers)."""

import numpy as np
import pytest
import torch

import attnviz
from attnviz.errors import InputError
from attnviz.models.loading import default_model_path
from attnviz.models.targets import (
    ClassTarget,
    MaskedTokenTarget,
    NextTokenTarget,
    SimilarityTarget,
    ZeroShotTarget,
    bind,
    sentence_embedding,
)
from tests.helpers import random_sentence


@pytest.fixture(scope="module")
def sentence_transformer():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(default_model_path()), device="cpu")


def test_embedding_equals_sentence_transformers_encode(default_handle, sentence_transformer, rng):
    texts = [random_sentence(rng, int(rng.integers(2, 30))) for _ in range(4)] + ["long " * 400]
    ours = sentence_embedding(default_handle, texts).numpy()
    np.testing.assert_allclose(ours, sentence_transformer.encode(texts), atol=1e-5)


def test_zero_shot_probability_is_softmax_of_cosines(default_handle, sentence_transformer):
    text = "An absolutely wonderful, moving film."
    target = ZeroShotTarget.from_dict({"good": ["Good."], "bad": ["Bad."]}, temperature=0.1)
    scorer = bind(default_handle, target, default_handle.encode(text))
    e = sentence_transformer.encode([text, "Good.", "Bad."])
    z = e[0] @ e[1:].T
    p = np.exp(z / 0.1) / np.exp(z / 0.1).sum()
    assert scorer.label == ["good", "bad"][int(p.argmax())]
    assert scorer.label_probabilities["good"] == pytest.approx(p[0], abs=1e-5)
    enc = default_handle.encode(text)
    value = float(scorer(input_ids=enc.inputs["input_ids"], attention_mask=enc.inputs["attention_mask"],
                         token_type_ids=enc.inputs["token_type_ids"]))
    assert value == pytest.approx(p.max(), abs=1e-5)


def test_default_sentiment_demo_is_meaningful(default_handle):
    pos = bind(default_handle, None, default_handle.encode("I loved it, what a delightful day."))
    neg = bind(default_handle, None, default_handle.encode("This was awful and I hated every minute."))
    assert pos.label == "positive" and neg.label == "negative"
    assert "τ = 0.05" in pos.description


def test_similarity_target(default_handle, sentence_transformer):
    scorer = bind(default_handle, SimilarityTarget("A cat sits on a mat."), default_handle.encode("A dog."))
    enc = default_handle.encode("A dog.")
    e = sentence_transformer.encode(["A dog.", "A cat sits on a mat."])
    value = float(scorer(input_ids=enc.inputs["input_ids"], attention_mask=enc.inputs["attention_mask"]))
    assert value == pytest.approx(float(e[0] @ e[1]), abs=1e-5)


def test_classifier_target_explains_the_predicted_class(tiny_model_dirs):
    handle = attnviz.load_model(tiny_model_dirs["bert-classifier"])
    enc = handle.encode("Some words to classify.")
    with torch.no_grad():
        logits = handle.model(**enc.inputs).logits[0]
    scorer = bind(handle, None, enc)
    assert scorer.label == f"LABEL_{int(logits.argmax())}"
    assert sum(scorer.label_probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    logit = bind(handle, ClassTarget(label=2, output="logit"), enc)
    assert float(logit(**enc.inputs)) == pytest.approx(float(logits[2]), abs=1e-5)
    with pytest.raises(InputError):
        bind(handle, ClassTarget(label=7), enc)


def test_masked_lm_target_needs_a_mask(tiny_model_dirs):
    handle = attnviz.load_model(tiny_model_dirs["bert-mlm"])
    with pytest.raises(InputError, match=r"\[MASK\]"):
        bind(handle, None, handle.encode("No mask here."))
    enc = handle.encode("The capital is [MASK].")
    scorer = bind(handle, MaskedTokenTarget("paris"), enc)
    pos = enc.tokens.index("[MASK]")
    with torch.no_grad():
        p = torch.softmax(handle.model(**enc.inputs).logits[0, pos], -1)
    paris = handle.tokenizer.convert_tokens_to_ids("paris")
    assert float(scorer(**enc.inputs)) == pytest.approx(float(p[paris]), abs=1e-6)
    assert pos in scorer.fixed


def test_next_token_target(tiny_model_dirs):
    handle = attnviz.load_model(tiny_model_dirs["gpt2"])
    enc = handle.encode("Once upon a")
    scorer = bind(handle, NextTokenTarget(), enc)
    with torch.no_grad():
        p = torch.softmax(handle.model(**enc.inputs).logits[0, -1], -1)
    assert float(scorer(**enc.inputs)) == pytest.approx(float(p.max()), abs=1e-6)
    with pytest.raises(InputError, match="single token"):
        bind(handle, NextTokenTarget("unbelievably"), enc)


def test_bad_zero_shot_settings_are_input_errors(default_handle):
    enc = default_handle.encode("Hello.")
    with pytest.raises(InputError):
        ZeroShotTarget.from_dict({"only": ["one"]})
    with pytest.raises(InputError):
        bind(default_handle, ZeroShotTarget(temperature=0.0), enc)
    with pytest.raises(InputError):
        bind(default_handle, ZeroShotTarget(label="neutral"), enc)


def test_label_text_round_trips_and_feeds_zero_shot_targets():
    from attnviz.models.targets import SENTIMENT_LABELS, labels_to_text, parse_labels

    parsed = parse_labels(labels_to_text(SENTIMENT_LABELS))
    assert ZeroShotTarget.from_dict(parsed).labels == SENTIMENT_LABELS
    assert parse_labels("sports\n\npolitics: an election | parliament") == {
        "sports": ["sports"], "politics": [" an election ", " parliament"]}
