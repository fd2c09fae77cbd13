"""Vision transformers load from a directory and report the attention their own eager path computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoConfig

import attnviz
from attnviz.errors import InputError, ModelLoadError
from attnviz.vision.images import processor_pixels, read_image
from attnviz.vision.maps import mean_attention_distance, patch_distances, query_map, rollout_map
from tests.vision.tiny import save_tiny


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    return {family: save_tiny(family, root) for family in ("vit", "deit", "dinov2", "swin", "siglip")}


@pytest.fixture(scope="module")
def picture():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(45, 60, 3), dtype=np.uint8)  # not square: the processor resizes/crops


def _eager_attentions(path, pixels):
    import transformers
    config = AutoConfig.from_pretrained(path)
    cls = getattr(transformers, config.architectures[0])
    model = cls.from_pretrained(path, attn_implementation="eager").eval()
    with torch.no_grad():
        return [a[0].numpy() for a in model(pixel_values=pixels, output_attentions=True).attentions]


@pytest.mark.parametrize("family, prefix", [
    ("vit", ("[CLS]",)), ("deit", ("[CLS]", "[DIST]")), ("dinov2", ("[CLS]", "[REG1]", "[REG2]"))])
def test_attention_equals_the_models_eager_attentions(dirs, picture, family, prefix):
    model = attnviz.load_model(dirs[family])
    assert model.captures_natively, model.eager_reason
    result = model.attention(picture)
    assert result.patch_grid == (4, 4)
    assert result.tokens[:len(prefix)] == prefix
    assert result.tokens[len(prefix):len(prefix) + 5] == ("r0c0", "r0c1", "r0c2", "r0c3", "r1c0")
    assert len(result.tokens) == len(prefix) + 16
    pixels, _ = processor_pixels(model.processor, read_image(picture))
    eager = _eager_attentions(dirs[family], pixels)
    assert result.attentions.shape == (2, 4, len(result.tokens), len(result.tokens))
    for layer, expected in enumerate(eager):
        np.testing.assert_allclose(result.attentions[layer], expected, atol=1e-5)
    # the same image as a PIL image, a file and bytes gives the same weights
    path = dirs[family] / "picture.png"
    Image.fromarray(picture).save(path)
    for source in (Image.fromarray(picture), path, str(path), path.read_bytes()):
        np.testing.assert_allclose(model.attention(source).attentions, result.attentions, atol=1e-6)
    again = type(result).from_json(result.to_json())
    assert again.patch_grid == (4, 4)


@pytest.mark.parametrize("family", ["beit", "data2vec-vision"])
def test_beit_and_data2vec_attention_equals_eager(tmp_path, picture, family):
    model = attnviz.load_model(save_tiny(family, tmp_path))
    result = model.attention(picture)
    assert result.tokens[:2] == ("[CLS]", "r0c0") and result.patch_grid == (4, 4)
    pixels, _ = processor_pixels(model.processor, read_image(picture))
    for layer, expected in enumerate(_eager_attentions(tmp_path / family, pixels)):
        np.testing.assert_allclose(result.attentions[layer], expected, atol=1e-5)
    assert model.attribute(picture, "occlusion", target=1).scores.shape == (4, 4)


@pytest.mark.parametrize(("family", "reason"), [("swin", "windows"), ("siglip", "no \\[CLS\\] token")])
def test_swin_and_siglip_are_refused_with_the_reason(dirs, family, reason):
    with pytest.raises(ModelLoadError, match=reason):
        attnviz.load_model(dirs[family])


def test_text_given_to_an_image_model_is_a_clear_error(dirs):
    model = attnviz.load_model(dirs["vit"])
    with pytest.raises(InputError, match="image model"):
        model.attention("The cat sat on the mat.")


def test_patch_maps_and_mean_attention_distance_follow_their_formulas(dirs, picture):
    result = attnviz.load_model(dirs["dinov2"]).attention(picture)
    start = 3
    np.testing.assert_allclose(query_map(result, 1, 2, 0), result.attentions[1, 2, 0, start:].reshape(4, 4))
    np.testing.assert_allclose(rollout_map(result), result.rollout()[0, start:].reshape(4, 4))
    dist = mean_attention_distance(result)
    # by hand for layer 1, head 3: loops over query and key patches at 8-pixel patch centres
    att = result.attentions[1, 3]
    expected = np.mean([sum(att[start + i, start + j] * 8 * np.hypot(i // 4 - j // 4, i % 4 - j % 4)
                            for j in range(16)) for i in range(16)])
    got = dist[(dist["layer"] == 1) & (dist["head"] == 3)]["mean_distance"].item()
    assert got == pytest.approx(expected, rel=1e-6)
    assert patch_distances((2, 3), 10)[0, 5] == pytest.approx(10 * np.hypot(1, 2))
