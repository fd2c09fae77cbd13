"""Image overlays draw the map they are given, square by square, over the picture."""

from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.figures import image as figs
from attnviz.vision.maps import mean_attention_distance, query_map
from tests.vision.tiny import save_tiny


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    model = attnviz.load_model(save_tiny("dinov2", tmp_path_factory.mktemp("dino")))
    picture = np.random.default_rng(2).integers(0, 256, size=(50, 40, 3), dtype=np.uint8)
    return model.encode(picture).shown, model.attention(picture), model


def test_attention_overlay_draws_the_query_row_as_patch_squares(seen):
    shown, result, _ = seen
    fig = figs.attention_overlay(shown, result, 1, 2, query=0)
    image, heat, patches = fig.data
    assert image.source.startswith("data:image/png;base64,")
    np.testing.assert_allclose(np.asarray(heat.z), query_map(result, 1, 2, 0), rtol=1e-6)
    assert (heat.dx, heat.dy) == (8.0, 8.0) and heat.customdata[3][1] == "r3c1"
    # one clickable marker per patch at its centre, named like the patch tokens
    assert patches.customdata[13] == "r3c1" and (patches.x[13], patches.y[13]) == (12.0, 28.0)
    assert float(patches.text[13]) == pytest.approx(float(heat.z[3][1]), abs=1e-4)
    assert "[REG1]" in fig.layout.title.text  # the weight left on registers is stated


def test_model_view_has_one_clickable_thumbnail_per_head(seen):
    shown, result, _ = seen
    fig = figs.model_view_overlays(shown, result, selected=(1, 3))
    assert len(fig.data[1].customdata) == result.num_layers * result.num_heads
    assert fig.layout.shapes[0].line.color == "#2e86e4"


def test_distance_figure_and_attribution_overlay(seen):
    shown, result, model = seen
    fig = figs.mean_distance_figure(mean_attention_distance(result))
    assert len(fig.data[0].x) == result.num_layers * result.num_heads
    rollout = model.attribute(shown, "rollout")
    assert figs.attribution_overlay(shown, rollout).data[1].colorscale[0][1] != figs.patch_overlay(
        shown, -rollout.scores, diverging=True).data[1].colorscale[0][1]
    title = figs.patch_overlay(shown, rollout.scores, title="<script>x</script>").layout.title.text
    assert "<script>" not in title
