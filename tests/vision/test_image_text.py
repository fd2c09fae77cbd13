"""A CLIP-like dual encoder: the similarities, both towers' attention and what drives a similarity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, CLIPModel

import attnviz
from attnviz.vision.images import processor_pixels, read_image
from tests.vision.tiny import save_tiny

CAPTIONS = ["a red disc on grey", "a photo of a dog", "boats in a harbour"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = save_tiny("clip", tmp_path_factory.mktemp("clip"))
    eager = CLIPModel.from_pretrained(path, attn_implementation="eager").eval()
    return attnviz.load_model(path), eager, AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def picture():
    return np.random.default_rng(4).integers(0, 256, size=(40, 36, 3), dtype=np.uint8)


def test_similarities_equal_the_models_own_logits(clip, picture):
    model, eager, tok = clip
    assert model.kind == "image-text"
    sims = model.similarity(picture, CAPTIONS)
    pixels, _ = processor_pixels(model.processor, read_image(picture))
    text = tok(CAPTIONS, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = eager(pixel_values=pixels, **text)
    np.testing.assert_allclose(sims.logits, out.logits_per_image[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(sims.probabilities, out.logits_per_image[0].softmax(-1).numpy(), atol=1e-5)
    assert sims.to_dataframe()["caption"].tolist() == CAPTIONS


def test_both_towers_attention_equal_eager(clip, picture):
    model, eager, tok = clip
    image_result = model.attention(picture)
    text_result = model.text_attention(CAPTIONS[1])
    pixels, _ = processor_pixels(model.processor, read_image(picture))
    ids = tok(CAPTIONS[1], return_tensors="pt")
    with torch.no_grad():
        vision = eager.vision_model(pixel_values=pixels, output_attentions=True).attentions
        text = eager.text_model(**ids, output_attentions=True).attentions
    assert image_result.patch_grid == (4, 4) and image_result.tokens[0] == "[CLS]"
    np.testing.assert_allclose(image_result.attentions, np.stack([a[0].numpy() for a in vision]), atol=1e-5)
    np.testing.assert_allclose(text_result.attentions, np.stack([a[0].numpy() for a in text]), atol=1e-5)
    assert text_result.tokens[0] == "[CLS]" and text_result.tokens[-1] == "[SEP]"
    assert np.allclose(np.triu(text_result.attentions[0, 0], 1), 0)  # CLIP's text tower is causal


def test_occlusion_explains_the_cosine_from_both_sides(clip, picture):
    model, eager, tok = clip
    patches, tokens = model.explain_similarity(picture, CAPTIONS[0])
    pixels, _ = processor_pixels(model.processor, read_image(picture))
    ids = tok(CAPTIONS[0], return_tensors="pt")["input_ids"]

    def cos(px, input_ids):
        with torch.no_grad():
            a = eager.get_image_features(pixel_values=px).pooler_output[0]
            b = eager.get_text_features(input_ids=input_ids).pooler_output[0]
        return float(torch.nn.functional.cosine_similarity(a, b, dim=0))

    full = cos(pixels, ids)
    assert patches.value == pytest.approx(full, abs=1e-5)
    hidden = pixels.clone()
    hidden[:, :, 16:24, 0:8] = 0  # patch r2c0
    assert patches.scores[2, 0] == pytest.approx(full - cos(hidden, ids), abs=1e-5)
    assert tokens.scores[2] == pytest.approx(full - cos(pixels, torch.cat([ids[:, :2], ids[:, 3:]], 1)), abs=1e-5)
    assert tokens.scores[0] == 0 and tokens.scores[-1] == 0  # [CLS]/[SEP] kept, not scored
