"""Resource limits: the cap on attention values names a way out, GPU out-of-memory becomes a
ResourceError that offers the CPU, and a diverging lab run is reported, not raised."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import attnviz.models.encoding as limits
from attnviz.errors import ResourceError
from attnviz.lab.train import Trainer


def test_cap_message_names_how_many_layers_fit_and_those_layers_match(default_handle, monkeypatch):
    text = "Seven green rivers ran under the quiet city."
    full = default_handle.attention(text)
    n = len(full.tokens)
    monkeypatch.setattr(limits, "MAX_ATTENTION_VALUES", 2 * 12 * n * n)
    assert type(default_handle.attention(text)).__name__ == "LongAttentionResult"  # by default: bounded, no refusal
    with pytest.raises(ResourceError) as err:
        default_handle.attention(text, bounded=False)
    message = str(err.value)
    assert "at most 2 fit" in message and "layers=[" in message and f"{6 * 12 * n * n:,}" in message
    monkeypatch.setattr(limits, "MAX_ATTENTION_VALUES", 12 * n * n - 1)
    with pytest.raises(ResourceError, match="shorter text"):
        default_handle.attention(text, layers=[0], bounded=False)
    monkeypatch.setattr(limits, "MAX_ATTENTION_VALUES", 2 * 12 * n * n)
    part = default_handle.attention(text, layers=[0, -1])
    assert part.layers == (0, 5)
    np.testing.assert_allclose(part.attentions, full.attentions[[0, 5]], atol=1e-6)


class _OutOfMemory(torch.nn.Module):
    """Stands in for a model on a full GPU: every forward raises CUDA's out-of-memory error."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.config = inner.config

    def forward(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    def get_input_embeddings(self):
        return self.inner.get_input_embeddings()


@pytest.fixture
def gpu_oom_handle(default_handle):
    default_handle.attention("warm up the site map")
    handle = copy.copy(default_handle)  # shares the weights; the shared handle is left alone
    handle.model = _OutOfMemory(default_handle.model)
    handle.device = torch.device("meta")  # "not the CPU": inputs are moved there but never computed
    return handle


def test_gpu_out_of_memory_in_attention_offers_the_cpu(gpu_oom_handle):
    with pytest.raises(ResourceError) as err:
        gpu_oom_handle.attention("A sentence that no longer fits.")
    assert err.value.retry_on_cpu and "ran out of memory" in str(err.value) and "CPU" in str(err.value)
    assert isinstance(err.value.__cause__, torch.OutOfMemoryError)


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "shap"])
def test_gpu_out_of_memory_in_attribution_offers_the_cpu(gpu_oom_handle, method):
    with pytest.raises(ResourceError) as err:
        gpu_oom_handle.attribute("A sentence that no longer fits.", method)
    assert err.value.retry_on_cpu and "CPU" in str(err.value)


def test_diverging_lab_run_is_reported_not_raised():
    trainer = Trainer("copy", settings={"max_steps": 50})
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))  # what a far too large step leaves behind
    trainer.run(max_steps=20)
    assert trainer.stop_reason == "diverged" and trainer.finished
    assert trainer.step == 1  # it stopped at the first non-finite loss
