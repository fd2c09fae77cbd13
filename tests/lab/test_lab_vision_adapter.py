"""The Lab's digits ViT behind the vision handle: its own attention, patch names, attributions, the digits."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from attnviz.errors import InputError
from attnviz.lab.model import build_model
from attnviz.lab.train import model_config
from attnviz.lab.vision_adapter import LabVisionHandle, digit_gallery, digit_images


def _handle(**overrides) -> LabVisionHandle:
    torch.manual_seed(0)
    return LabVisionHandle(build_model(model_config("digits", **overrides)), name="lab-vit:test")


@pytest.fixture(scope="module")
def handle():
    return _handle()


@pytest.fixture(scope="module")
def digit():
    return digit_images()["digit 3"]


def own_attentions(handle, values: np.ndarray) -> np.ndarray:
    """The Lab code's own weights (its ``output_attentions`` path, not attnviz's capture)."""
    with torch.inference_mode():
        out = handle.model(pixel_values=torch.as_tensor(values)[None], output_attentions=True)
    return np.stack([a[0].numpy() for a in out.attentions])


def test_attention_is_the_lab_models_own_with_cls_and_patch_names(handle, digit):
    assert handle.captures_natively  # scaled-dot scores: attnviz's capture, checked against the Lab's code
    result = handle.attention(digit)
    assert result.tokens == ("[CLS]",) + tuple(f"r{r}c{c}" for r in range(4) for c in range(4))
    assert result.meta["patch_grid"] == (4, 4) and result.meta["patch_size"] == 2
    assert result.kinds[0] == "cls" and set(result.kinds[1:]) == {"patch"}
    np.testing.assert_allclose(result.attentions, own_attentions(handle, digit), atol=1e-5)
    assert result.attentions.shape == (2, 4, 17, 17)


def test_a_model_the_capture_cannot_take_reports_through_the_lab_code():
    additive = _handle(score="additive")
    assert not additive.captures_natively
    digit = digit_images()["digit 7"]
    np.testing.assert_allclose(additive.attention(digit).attentions, own_attentions(additive, digit), atol=1e-6)


def test_gallery_pngs_light_backgrounds_and_text(handle, digit):
    gallery = digit_gallery()
    assert list(gallery) == [f"digit {i}" for i in range(10)]
    from_png = handle.encode(gallery["digit 3"]).pixel_values[0, 0].numpy()
    np.testing.assert_allclose(from_png, digit, atol=0.5 / 255 + 1e-6)  # 8-bit PNG of the same pixels
    buffer = io.BytesIO()
    Image.fromarray(255 - np.rint(digit * 255).astype(np.uint8)).resize((32, 32), Image.Resampling.NEAREST) \
        .save(buffer, "PNG")  # dark ink on white, 4× larger: inverted and box-downsampled back
    np.testing.assert_allclose(handle.encode(buffer.getvalue()).pixel_values[0, 0].numpy(), digit, atol=1 / 255 + 1e-6)
    with pytest.raises(InputError, match="not text"):
        handle.encode("the digit three")
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        handle.encode(digit * 16)


def test_occlusion_and_integrated_gradients_give_the_patch_grid(handle, digit):
    occlusion = handle.attribute(digit, "occlusion", target=3)
    gradients = handle.attribute(digit, "integrated_gradients", target=3)
    assert occlusion.scores.shape == gradients.scores.shape == (4, 4) and occlusion.label == "3"
    x = torch.as_tensor(digit)[None]
    blank = x.clone()
    blank[:, 2:4, 4:6] = 0  # patch r1c2 removed by hand
    with torch.inference_mode():
        logits = handle.model(pixel_values=torch.cat([x, blank])).logits[:, 3]
    assert occlusion.scores[1, 2] == pytest.approx(float(logits[0] - logits[1]), abs=1e-5)
    assert occlusion.value == pytest.approx(float(logits[0]), abs=1e-5)
    assert abs(gradients.settings["completeness_gap"]) < 1e-2 * max(1.0, abs(float(gradients.scores.sum())))
