"""Agreement and faithfulness of image attributions against a hand computation on the eager tiny ViT."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from transformers import ViTForImageClassification

import attnviz
from attnviz.errors import InputError
from tests.vision.tiny import save_tiny

TARGET = 2


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    path = save_tiny("vit", tmp_path_factory.mktemp("vit_eval"))
    eager = ViTForImageClassification.from_pretrained(path, attn_implementation="eager").eval()
    model = attnviz.load_model(path)
    picture = np.random.default_rng(4).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    attributions = {m: model.attribute(picture, m, target=TARGET) for m in ("occlusion", "saliency")}
    return model, eager, picture, attributions, model.evaluate(picture, attributions)


def _logit_without(eager, pixels, removed) -> float:
    """f with the listed patches (indices into the 4×4 grid of 8-pixel patches) set to 0 (the mean colour)."""
    x = pixels.clone()
    for p in removed:
        r, c = divmod(int(p), 4)
        x[:, :, 8 * r:8 * r + 8, 8 * c:8 * c + 8] = 0
    with torch.no_grad():
        return float(eager(pixel_values=x).logits[0, TARGET])


def test_comprehensiveness_and_sufficiency_equal_patches_removed_by_hand(evaluated):
    model, eager, picture, attributions, ev = evaluated
    x = model.encode(picture).pixel_values
    scores = attributions["occlusion"].scores.reshape(-1).astype(np.float64)
    order = np.argsort(-np.maximum(scores, 0), kind="stable")  # positive score first, ties by position
    full = _logit_without(eager, x, [])
    er = ev.eraser["occlusion"]
    assert er["full_output"] == pytest.approx(full, abs=1e-5)
    for t, comp, suff in zip(er["thresholds"], er["comprehensiveness"], er["sufficiency"]):
        size = max(1, math.ceil(t * 16 - 1e-9))
        assert comp == pytest.approx(full - _logit_without(eager, x, order[:size]), abs=1e-4)
        assert suff == pytest.approx(full - _logit_without(eager, x, order[size:]), abs=1e-4)
    assert er["aopc_comprehensiveness"] == pytest.approx(np.mean(er["comprehensiveness"]))


def test_deletion_and_insertion_curves_follow_the_ranking(evaluated):
    model, eager, picture, attributions, ev = evaluated
    x = model.encode(picture).pixel_values
    order = np.argsort(-np.maximum(attributions["saliency"].scores.reshape(-1), 0), kind="stable")
    curve = ev.curves["saliency"]
    assert curve["counts"] == list(range(17))  # every patch count
    for c in (0, 3, 16):
        assert curve["deletion"][c] == pytest.approx(_logit_without(eager, x, order[:c]), abs=1e-4)
        assert curve["insertion"][c] == pytest.approx(_logit_without(eager, x, order[c:]), abs=1e-4)
    assert "mean colour" in curve["removed"]
    summary = ev.summary()
    assert list(summary["method"]) == ["occlusion", "saliency", "random ranking"]


def test_agreement_is_the_rank_correlation_over_patches(evaluated):
    _, _, _, attributions, ev = evaluated
    a, b = (np.abs(attributions[m].scores.reshape(-1)) for m in ("occlusion", "saliency"))
    assert ev.units[:5] == ("r0c0", "r0c1", "r0c2", "r0c3", "r1c0") and ev.level == "patch"
    assert ev.matrix("spearman").loc["occlusion", "saliency"] == pytest.approx(stats.spearmanr(a, b).statistic)
    assert ev.matrix("kendall").loc["saliency", "occlusion"] == pytest.approx(stats.kendalltau(a, b).statistic)


def test_attributions_of_other_classes_are_not_compared(evaluated):
    model, _, picture, attributions, _ = evaluated
    other = model.attribute(picture, "occlusion", target=0)
    with pytest.raises(InputError, match="same image and class"):
        model.evaluate(picture, {**attributions, "other": other})
