"""Lab figures are pure functions of their inputs; token labels are escaped."""

import json

import numpy as np

from attnviz.figures import lab as lfigs
from attnviz.lab.train import Snapshot

TOKENS = ["<b>", "a", "1", "a", "?"]


def snapshot():
    att = np.random.default_rng(0).random((2, 3, 5, 5)).astype(np.float32)
    return Snapshot(step=40, attentions=att / att.sum(-1, keepdims=True), accuracy=0.5, prediction="1")


def test_training_curves():
    history = [{"step": s, "loss": 2.0 / s, "accuracy": min(1, s / 100)} for s in (10, 20, 30)]
    fig = lfigs.training_curves(history, target=0.95)
    assert [t.name for t in fig.data] == ["loss", "accuracy"]
    assert list(fig.data[1].y) == [0.1, 0.2, 0.3] and fig.layout.yaxis.type == "log"


def test_snapshot_figures_escape_tokens():
    snap = snapshot()
    heat = lfigs.snapshot_heatmap(snap, TOKENS, 1, 2)
    assert "Step 40" in heat.layout.title.text and "layer 1 · head 2" in heat.layout.title.text
    np.testing.assert_allclose(np.asarray(heat.data[0].z), snap.attentions[1, 2])
    grid = lfigs.snapshot_grid(snap, TOKENS)
    assert len(grid.data) == 6
    spec = json.dumps(grid.to_plotly_json(), default=str)
    assert "<b>" not in spec and "&lt;b&gt;" in spec


def test_step_through_figures():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(5, 8)).astype(np.float32)
    fig = lfigs.matrix_heatmap(q, TOKENS, title="Q")
    assert fig.data[0].zmin == -fig.data[0].zmax
    mask = np.tril(np.ones((5, 5), dtype=bool))
    scores = lfigs.scores_heatmap(q @ q.T, mask, TOKENS)
    assert np.isnan(np.asarray(scores.data[0].z, dtype=float)[0, 1])  # masked cells are blank
    assert lfigs.mask_heatmap(mask, TOKENS).data[0].z.sum() == mask.sum()
    assert lfigs.weights_heatmap(np.eye(5), TOKENS).data[0].zmax == 1.0
    diff = lfigs.difference_heatmap(np.eye(5), np.zeros((5, 5)), TOKENS)
    assert diff.data[0].zmax == 1.0


def test_digit_attention_spreads_patch_weights_over_pixels():
    weights = np.arange(16, dtype=np.float32) / 120
    fig = lfigs.digit_attention(np.zeros((8, 8)), weights, 2, title="step 3")
    per_pixel = np.asarray(fig.data[1].z)
    assert per_pixel.shape == (8, 8) and per_pixel[0, 0] == per_pixel[1, 1] == weights[0]
    assert per_pixel[7, 7] == weights[15]
