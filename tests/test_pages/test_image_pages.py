"""The Attention and Attribution pages with an image model: gallery, upload, every view, hostile files."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import chart_specs, open_page, strings_in
from tests.vision.tiny import declared_size, png_bytes, save_tiny

VIEWS = ["Per head", "Model view", "Rollout", "Mean attention distance", "Token heatmap"]


@pytest.fixture(scope="module")
def vit_key(tmp_path_factory):
    return (str(save_tiny("vit", tmp_path_factory.mktemp("vit_page"))), "cpu", "float32")


@pytest.fixture(scope="module")
def attention_page(vit_key):
    at = open_page(model_key=vit_key)
    assert not at.exception and not at.error, (at.exception, at.error)
    return at


@pytest.mark.parametrize("view", VIEWS)
def test_every_image_view_renders(attention_page, view):
    at = attention_page
    at.selectbox(key="attention_image").set_value("shapes.png")
    at.segmented_control(key="image_view").set_value(view).run()
    assert not at.exception and not at.error
    specs = chart_specs(at)
    assert specs
    if view == "Per head":
        assert "[CLS] → patches" in strings_in(specs[0])
    if view == "Mean attention distance":
        assert len(at.dataframe) == 1


def test_a_gallery_image_and_a_patch_query(attention_page):
    at = attention_page
    at.segmented_control(key="image_view").set_value("Per head").run()
    at.selectbox(key="attention_image").set_value("flower.jpg").run()
    at.selectbox(key="image_query").set_value(5).run()  # patch r1c0 of the 4×4 grid (after [CLS])
    assert not at.exception and not at.error
    assert "r1c0 → patches" in strings_in(chart_specs(at)[0])


HOSTILE = [
    ("notes.png", b"#!/bin/sh\necho not an image", "not a PNG, JPEG or WebP"),
    ("huge.png", declared_size(png_bytes(np.zeros((4, 4, 3), np.uint8)), 60_000, 60_000), "megapixels"),
    ("meta.png", png_bytes(np.zeros((8, 8, 3), np.uint8), Comment="<script>alert(1)</script>"), "metadata"),
]


def test_hostile_uploads_get_a_clear_error_and_nothing_else_then_a_good_one_is_shown(attention_page):
    at = attention_page
    at.selectbox(key="attention_image").set_value("Upload your own…").run()
    for name, data, message in HOSTILE:
        at.file_uploader[0].set_value((name, data, "image/png")).run()
        assert not at.exception
        assert len(at.error) == 1 and message in at.error[0].value, name
        assert not at.get("plotly_chart")
    picture = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    at.file_uploader[0].set_value(("mine.png", png_bytes(picture), "image/png")).run()
    assert not at.exception and not at.error and chart_specs(at)


def test_attribution_page_draws_one_overlay_per_method(vit_key):
    at = open_page("attribution", model_key=vit_key)
    assert not at.exception and not at.error, (at.exception, at.error)
    at.multiselect(key="image_methods").set_value(["occlusion", "saliency", "rollout"]).run()
    at.selectbox(key="image_class").set_value("dog").run()
    assert not at.exception and not at.error
    titles = [strings_in(s) for s in chart_specs(at)]
    assert len(titles) == 6 and all("class dog" in t for t in titles[:3])
    assert "spearman over 16 patches" in titles[3]  # agreement, then faithfulness (on: 16 patches)
    assert "Faithfulness by method" in titles[4] and "fraction of patches replaced" in titles[5]
    summary = at.dataframe[1].value
    assert list(summary["method"]) == ["Occlusion (patch)", "Saliency (|gradient|)", "Attention rollout",
                                       "random ranking"]
    at.toggle(key="image_faithfulness").set_value(False).run()
    assert not at.exception and not at.error and len(chart_specs(at)) == 4


def test_clip_captions_and_a_captioners_words(tmp_path):
    from attnviz.ui import MODEL_KEY

    at = open_page(model_key=(str(save_tiny("clip", tmp_path)), "cpu", "float32"))
    at.segmented_control(key="image_view").set_value("Captions").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.dataframe[0].value["caption"].tolist() == ["a photo of a temple", "a photo of a flower",
                                                         "red, blue and green shapes"]
    assert "Patch occlusion of the similarity" in strings_in(chart_specs(at)[0])
    at.session_state[MODEL_KEY] = (str(save_tiny("captioner", tmp_path)), "cpu", "float32")
    at.run()
    at.segmented_control(key="image_view").set_value("Caption").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert "writing “" in strings_in(chart_specs(at)[0])


@pytest.mark.parametrize("page", ["generate", "bias"])
def test_text_only_pages_say_so_for_an_image_model(vit_key, page):
    at = open_page(page, model_key=vit_key)
    assert not at.exception and not at.error, (at.exception, at.error)
    assert any("works on text models" in info.value for info in at.info)
