"""Patch attributions of a tiny ViT classifier against independent computations on the eager model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import ViTForImageClassification

import attnviz
from attnviz.errors import InputError
from attnviz.vision.attribution import ImageAttribution
from tests.vision.tiny import save_tiny


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    path = save_tiny("vit", tmp_path_factory.mktemp("vit"))
    eager = ViTForImageClassification.from_pretrained(path, attn_implementation="eager").eval()
    return attnviz.load_model(path), eager


@pytest.fixture(scope="module")
def picture():
    return np.random.default_rng(1).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)


def _f(eager, pixels, target):
    return eager(pixel_values=pixels).logits[:, target]


def test_occlusion_is_the_drop_when_one_patch_turns_to_the_baseline(vit, picture):
    model, eager = vit
    out = model.attribute(picture, "occlusion", target=2)
    x = model.encode(picture).pixel_values
    with torch.no_grad():
        full = _f(eager, x, 2)
        hidden = x.clone()
        hidden[:, :, 8:16, 16:24] = 0  # patch r1c2, 8-pixel patches
        expected = float(full - _f(eager, hidden, 2))
    assert out.scores.shape == (4, 4) and out.target == 2 and out.label == "boat"
    assert out.scores[1, 2] == pytest.approx(expected, abs=1e-5)


def test_saliency_sums_absolute_gradients_per_patch(vit, picture):
    model, eager = vit
    out = model.attribute(picture, "saliency")
    x = model.encode(picture).pixel_values.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_f(eager, x, out.target).sum(), x)
    np.testing.assert_allclose(out.scores[0, 3], grad[0, :, 0:8, 24:32].abs().sum().item(), rtol=1e-4)
    assert out.target == int(eager(pixel_values=x.detach()).logits.argmax())


def test_integrated_gradients_are_complete(vit, picture):
    model, eager = vit
    out = model.attribute(picture, "integrated_gradients", target=0, n_steps=64)
    x = model.encode(picture).pixel_values
    with torch.no_grad():
        difference = float(_f(eager, x, 0) - _f(eager, torch.zeros_like(x), 0))
    assert out.scores.sum() == pytest.approx(difference, abs=0.02 * abs(difference) + 1e-3)
    assert abs(out.settings["completeness_gap"]) == pytest.approx(abs(out.scores.sum() - difference), abs=1e-4)


def test_chefer_rule_matches_eager_attention_gradients(vit, picture):
    model, eager = vit
    out = model.attribute(picture, "chefer", target=1)
    x = model.encode(picture).pixel_values.clone().requires_grad_(True)
    outputs = eager(pixel_values=x, output_attentions=True)
    grads = torch.autograd.grad(outputs.logits[0, 1], outputs.attentions)
    relevance = torch.eye(17, dtype=torch.float64)
    for att, grad in zip(outputs.attentions, grads):
        relevance = relevance + (grad * att).clamp(min=0).mean(1)[0].double() @ relevance
    np.testing.assert_allclose(out.scores.ravel(), relevance[0, 1:].detach().numpy(), atol=1e-6)


def test_shap_values_add_up_to_the_difference_from_the_baseline(vit, picture):
    model, eager = vit
    out = model.attribute(picture, "shap", target=0, n_samples=64)
    x = model.encode(picture).pixel_values
    with torch.no_grad():
        difference = float(_f(eager, x, 0) - _f(eager, torch.zeros_like(x), 0))
    assert out.scores.sum() == pytest.approx(difference, abs=1e-4)  # KernelSHAP's efficiency constraint
    assert out.settings["players"] == 16


def test_rollout_method_is_the_attention_rollout(vit, picture):
    model, _ = vit
    out = model.attribute(picture, "rollout")
    np.testing.assert_allclose(out.scores.ravel(), model.attention(picture).rollout()[0, 1:], atol=1e-6)
    again = ImageAttribution.from_json(out.to_json())
    np.testing.assert_array_equal(again.scores, out.scores)
    assert list(out.to_dataframe().columns) == ["row", "col", "patch", "score"]


def test_bad_requests_are_clear(vit, picture, tmp_path):
    model, _ = vit
    with pytest.raises(InputError, match="Unknown image attribution"):
        model.attribute(picture, "lime")
    with pytest.raises(InputError, match="does not exist"):
        model.attribute(picture, "saliency", target=7)
    dino = attnviz.load_model(save_tiny("dinov2", tmp_path))
    with pytest.raises(InputError, match="classification head"):
        dino.attribute(picture, "saliency")
