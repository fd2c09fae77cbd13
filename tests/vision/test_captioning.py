"""Captioning: each generated word's cross-attention over the image equals step-by-step generation's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import VisionEncoderDecoderModel

import attnviz
from attnviz.figures import image as figs
from attnviz.vision.images import processor_pixels, read_image
from tests.vision.tiny import save_tiny


@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    path = save_tiny("captioner", tmp_path_factory.mktemp("cap"))
    eager = VisionEncoderDecoderModel.from_pretrained(path, attn_implementation="eager").eval()
    return attnviz.load_model(path), eager


def test_cross_attention_rows_equal_step_by_step_generation(captioner):
    model, eager = captioner
    picture = np.random.default_rng(5).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    result = model.caption(picture, max_new_tokens=6)
    assert result.patch_grid == (4, 4) and len(result.decoder_tokens) == 6
    assert result.cross_attentions.shape == (2, 4, 6, 17)
    pixels, _ = processor_pixels(model.processor, read_image(picture))
    ids = torch.tensor([[101]])
    with torch.no_grad():
        for t in range(6):  # greedy decoding by hand, no cache: the last row of each step
            out = eager(pixel_values=pixels, decoder_input_ids=ids, output_attentions=True)
            for layer in range(2):
                np.testing.assert_allclose(result.cross_attentions[layer, :, t], out.cross_attentions[layer][0, :, -1],
                                           atol=1e-5)
                np.testing.assert_allclose(result.decoder_attentions[layer, :, t, :t + 1],
                                           out.decoder_attentions[layer][0, :, -1], atol=1e-5)
            ids = torch.cat([ids, out.logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert tuple(model.tokenizer.convert_ids_to_tokens(ids[0, 1:].tolist())) == result.decoder_tokens
    fig = figs.cross_attention_overlay(model.encode(picture).shown, result, 3, layer_pos=1, head=None)
    np.testing.assert_allclose(np.asarray(fig.data[1].z), result.cross_attentions[1, :, 3, 1:].mean(0).reshape(4, 4),
                               rtol=1e-5)
