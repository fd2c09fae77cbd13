"""Lab text models for the Generate page: trained offline in seconds, a causal LM that generate() can use."""

import numpy as np
import pytest
import torch

from attnviz.errors import InputError
from attnviz.generation import generate
from attnviz.lab.tasks import get_task
from attnviz.lab.textlm import next_token_batch, train_text_model


def test_next_token_batch_labels_the_position_before_each_answer():
    task = get_task("copy")
    plain = task.sample(4, torch.Generator().manual_seed(5))
    batch = next_token_batch(task, 4, torch.Generator().manual_seed(5))
    digits = plain.inputs[:, :8]
    np.testing.assert_array_equal(batch.inputs[:, 9:], digits)  # the answers written out: the copy
    np.testing.assert_array_equal(batch.labels[:, 8:16], digits)  # '|' predicts the first digit, …
    assert (batch.labels[:, :8] == -100).all() and (batch.labels[:, -1] == -100).all()


@pytest.fixture(scope="module")
def copy_model():
    return train_text_model("copy", seed=0)


def test_a_lab_text_model_generates_offline(copy_model):
    handle, report = copy_model
    assert handle.kind == "decoder" and report["accuracy"] >= 0.99
    prompt = "7 2 9 4 4 0 1 8 |"
    result = generate(handle, prompt, max_new_tokens=8)
    assert result.continuation.split() == prompt.split()[:8]  # it copies
    att = result.attention.attentions
    assert att.shape == (1, 4, 17, 17)
    assert np.allclose(np.triu(att, k=1), 0)  # read left to right: no weight on later tokens
    np.testing.assert_allclose(att.sum(-1), 1, atol=1e-5)


def test_only_text_tasks_make_text_models():
    with pytest.raises(InputError):
        train_text_model("digits")
