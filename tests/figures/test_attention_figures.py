"""Figures are pure functions: checked on hand-built arrays, no model and no browser."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from attnviz.attention import AttentionResult
from attnviz.figures import attention as figs


def make_result(n=5, layers=2, heads=3, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(layers, heads, n, n))
    att = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    tokens = ("[CLS]", "the", "<b>x</b>", "the", "[SEP]")[:n] if n <= 5 else tuple(f"t{i}" for i in range(n))
    kinds = tuple("cls" if i == 0 else "sep" if i == n - 1 else "text" for i in range(n))
    return AttentionResult(tokens=tokens, attentions=att.astype(np.float32), layers=tuple(range(layers)),
                           kinds=kinds, segments=np.zeros(n, np.int8), readout="mean")


def test_axis_labels_are_escaped_and_unique():
    labels = figs.axis_labels(["the", "<b>x</b>", "the", "Ġworld", ""])
    assert labels[1] == "&lt;b&gt;x&lt;/b&gt;"
    assert len(set(labels)) == 5 and labels[2].startswith("the")
    assert labels[3] == "▁world" and labels[4] == "∅"


def test_head_heatmap_holds_exactly_that_head():
    result = make_result()
    fig = figs.head_heatmap(result, 1, 2)
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), result.attentions[1, 2])
    assert "Layer 1 · head 2" in fig.layout.title.text
    assert fig.layout.yaxis.autorange == "reversed"  # first query on top, as people read


def test_heatmaps_ship_typed_arrays_not_json_lists():
    fig = figs.head_heatmap(make_result(n=40), 0, 0)
    z = json.loads(fig.to_json())["data"][0]["z"]
    assert isinstance(z, dict) and z["dtype"] == "f4" and "bdata" in z


def test_mean_heads_and_rollout_figures():
    result = make_result()
    np.testing.assert_allclose(np.asarray(figs.mean_heads_heatmap(result, 0).data[0].z),
                               result.attentions[0].mean(0), atol=1e-7)
    np.testing.assert_allclose(np.asarray(figs.rollout_heatmap(result).data[0].z), result.rollout(), atol=1e-7)
    bar = figs.rollout_readout_bar(result)
    np.testing.assert_allclose(np.asarray(bar.data[0].y), result.rollout().mean(0), atol=1e-6)
    assert "mean over all unmasked query rows" in bar.layout.title.text


def test_block_average_keeps_block_means():
    m = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(figs.block_average(m, 2), [[2.5, 4.5], [10.5, 12.5]])
    assert figs.block_average(m, 8).shape == (4, 4)


def _decode_png(fig):
    source = fig.data[0].source
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))


def test_model_view_is_one_png_with_a_cell_per_head():
    result = make_result(n=5, layers=2, heads=3)
    fig = figs.model_view(result.attentions, thumb=64, gap=3, selected=(1, 2))
    img = _decode_png(fig)
    side = 60  # 5 tokens upscaled ×12 to stay visible
    assert img.shape == (2 * side + 3, 3 * side + 3 * 2, 3)
    assert list(fig.layout.yaxis.ticktext) == ["layer 0", "layer 1"]
    assert len(fig.layout.shapes) == 1
    # gaps between thumbnails are white, thumbnails are not
    assert (img[side:side + 3] == 255).all()
    assert not (img[:side, :side] == 255).all()


def test_model_view_at_512_tokens_is_small():
    rng = np.random.default_rng(1)
    att = rng.random((6, 12, 512, 512), dtype=np.float32)
    att /= att.sum(-1, keepdims=True)
    assert len(figs.model_view(att).to_json()) < 1_500_000


def test_head_statistics_heatmap_layout():
    result = make_result(layers=2, heads=3)
    fig = figs.head_statistics_heatmap(result.head_statistics(), "to_cls")
    z = np.asarray(fig.data[0].z)
    assert z.shape == (2, 3)
    stats = result.head_statistics()
    assert z[1, 2] == pytest.approx(stats.query("layer == 1 and head == 2")["to_cls"].item())
