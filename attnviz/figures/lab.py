"""Attention Lab figures: pure functions from training history, snapshots and step-throughs to plotly Figures.

Nothing here runs a model. Token labels go through :func:`attnviz.figures.attention.axis_labels`
(HTML-escaped, repeats kept apart).
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .attention import COLORSCALE, attention_heatmap, axis_labels

DIVERGING = "RdBu_r"


def training_curves(history: list[dict], *, target: float | None = None, title: str = "",
                    marks: dict[str, int] | None = None) -> go.Figure:
    """Loss (log scale) and held-out accuracy against the training step.

    Args:
        history: dicts with ``step``, ``loss`` and ``accuracy`` (a Trainer's ``history``).
        target: an accuracy to mark with a dashed line (e.g. 0.95).
        marks: label → step, drawn as vertical lines on both charts (e.g. ``{"induction head forms": 160}``).
    """
    steps = [h["step"] for h in history]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "held-out accuracy"),
                        horizontal_spacing=0.12)
    fig.add_trace(go.Scatter(x=steps, y=[h["loss"] for h in history], mode="lines+markers", name="loss",
                             marker={"size": 4}, hovertemplate="step %{x}<br>loss %{y:.4f}<extra></extra>"),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=steps, y=[h["accuracy"] for h in history], mode="lines+markers", name="accuracy",
                             marker={"size": 4}, line={"color": "#2ca02c"},
                             hovertemplate="step %{x}<br>accuracy %{y:.3f}<extra></extra>"), row=1, col=2)
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color="gray", row=1, col=2,
                      annotation_text=f"{target:.0%}", annotation_position="bottom right")
    for label, step in (marks or {}).items():
        for col in (1, 2):
            fig.add_vline(x=step, line_dash="dot", line_color="#d62728", row=1, col=col,
                          annotation_text=html.escape(f"{label} (step {step})", quote=False) if col == 1 else None,
                          annotation_position="top right")
    ticks = log_ticks([h["loss"] for h in history])
    fig.update_yaxes(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], title_text="loss (log scale)",
                     row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    fig.update_xaxes(title_text="step", rangemode="tozero")
    fig.update_layout(height=300, showlegend=False, margin={"l": 10, "r": 10, "t": 50 if title else 30, "b": 10},
                      title={"text": html.escape(title, quote=False)})
    return fig


def log_ticks(values) -> list[float]:
    """Tick values for a log axis over ``values``: 1, 2, 5 × every power of ten they span (fewer when they span
    many), so each tick is labelled with its whole number (0.02, 0.5, 1) instead of plotly's bare mantissas."""
    positive = [v for v in values if v is not None and np.isfinite(v) and v > 0]
    if not positive:
        return [1.0]
    low, high = int(np.floor(np.log10(min(positive)))), int(np.ceil(np.log10(max(positive))))
    mantissas = (1, 2, 5) if high - low <= 3 else (1,)
    return [float(f"{m}e{p}") for p in range(low, high + 1) for m in mantissas
            if min(positive) / 1.5 <= m * 10.0 ** p <= max(positive) * 1.5] or [float(f"1e{low}")]


def circuit_scores(trace, *, title: str = "") -> go.Figure:
    """Every head's prefix-matching score over training (a :class:`attnviz.lab.circuits.CircuitTrace`): the
    lookup head in red, the others grey, the threshold dashed and the step it formed marked."""
    fig = go.Figure()
    steps = [int(s) for s in trace.steps]
    chosen = trace.head
    _, layers, heads = trace.scores.shape
    for lay in range(layers):
        for h in range(heads):
            mine = (lay, h) == chosen
            fig.add_trace(go.Scatter(
                x=steps, y=trace.scores[:, lay, h].astype(float).tolist(), mode="lines", name=f"L{lay} · H{h}",
                line={"color": "#d62728" if mine else "#b0b0b0", "width": 3 if mine else 1},
                hovertemplate=f"layer {lay} head {h}<br>step %{{x}}<br>score %{{y:.2f}}<extra></extra>"))
    fig.add_hline(y=trace.threshold, line_dash="dash", line_color="gray",
                  annotation_text=f"threshold {trace.threshold:g}", annotation_position="bottom right")
    if trace.formed_step is not None:
        fig.add_vline(x=trace.formed_step, line_dash="dot", line_color="#d62728",
                      annotation_text=f"{trace.name} forms (step {trace.formed_step})", annotation_position="top left")
    fig.update_yaxes(range=[0, 1.02], title_text="prefix-matching score")
    fig.update_xaxes(title_text="step", rangemode="tozero")
    fig.update_layout(height=300, showlegend=False, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title={"text": html.escape(title, quote=False)})
    return fig


def snapshot_heatmap(snapshot, tokens, layer: int, head: int) -> go.Figure:
    """One head's attention on the probe example at the snapshot's training step."""
    accuracy = "" if snapshot.accuracy is None else f" · accuracy {snapshot.accuracy:.0%}"
    title = f"Step {snapshot.step}{accuracy} — layer {layer} · head {head}"
    return weights_heatmap(snapshot.attentions[layer, head], tokens, title=title)


def snapshot_grid(snapshot, tokens, *, max_labels: int = 24) -> go.Figure:
    """Every layer (rows) × head (columns) at one step, on a shared 0–1 colour scale."""
    layers, heads = snapshot.attentions.shape[:2]
    fig = make_subplots(rows=layers, cols=heads, horizontal_spacing=0.02, vertical_spacing=0.06,
                        subplot_titles=[f"L{lay} · H{h}" for lay in range(layers) for h in range(heads)])
    labels = axis_labels(tokens)
    for lay in range(layers):
        for h in range(heads):
            fig.add_trace(go.Heatmap(
                z=snapshot.attentions[lay, h].astype(np.float32), x=labels, y=labels, zmin=0, zmax=1,
                colorscale=COLORSCALE, showscale=(lay == 0 and h == heads - 1),
                hovertemplate=f"layer {lay} head {h}<br>query %{{y}}<br>key %{{x}}<br>%{{z:.3f}}<extra></extra>",
            ), row=lay + 1, col=h + 1)
    show = len(tokens) <= max_labels
    fig.update_xaxes(showticklabels=False, type="category")
    fig.update_yaxes(autorange="reversed", showticklabels=False, type="category", tickfont={"size": 9})
    for lay in range(layers):  # token labels on the first column only
        fig.update_yaxes(showticklabels=show, row=lay + 1, col=1)
    fig.update_layout(height=int((40 + 440 / heads) * layers + 50),
                      margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title={"text": f"Step {snapshot.step}: all heads"})
    return fig


def digit_attention(image: np.ndarray, cls_attention: np.ndarray, patch_size: int, *, title: str = "") -> go.Figure:
    """An 8×8 digit and where its [CLS] token attends: one weight per patch, spread over the patch's pixels.

    Args:
        image: [size, size] pixels in [0, 1].
        cls_attention: [patches] the [CLS] row of one head without the [CLS] column (reading order).
    """
    size = image.shape[0]
    side = size // patch_size
    weights = np.asarray(cls_attention, dtype=np.float32).reshape(side, side)
    per_pixel = np.kron(weights, np.ones((patch_size, patch_size), dtype=np.float32))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("image", "[CLS] attention per patch"),
                        horizontal_spacing=0.08)
    fig.add_trace(go.Heatmap(z=image, colorscale="Greys", showscale=False,
                             hovertemplate="row %{y} col %{x}<br>ink %{z:.2f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Heatmap(z=per_pixel, colorscale=COLORSCALE, zmin=0, colorbar={"title": {"text": "weight"}},
                             hovertemplate="row %{y} col %{x}<br>weight %{z:.3f}<extra></extra>"), row=1, col=2)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      title={"text": html.escape(title, quote=False)})
    return fig


def matrix_heatmap(matrix: np.ndarray, row_labels, *, title: str = "", column_title: str = "dimension",
                   height: int | None = None) -> go.Figure:
    """Signed numbers (a token × dimension matrix like Q, K, V) on a diverging scale centred on 0."""
    matrix = np.asarray(matrix, dtype=np.float32)
    bound = float(np.abs(matrix[np.isfinite(matrix)]).max(initial=0.0)) or 1.0
    fig = go.Figure(go.Heatmap(
        z=matrix, y=axis_labels(row_labels), x=list(range(matrix.shape[1])), colorscale=DIVERGING,
        zmin=-bound, zmax=bound, hovertemplate="token %{y}<br>" + column_title + " %{x}<br>%{z:.4f}<extra></extra>",
    ))
    fig.update_layout(title={"text": html.escape(title, quote=False)},
                      height=height or int(min(700, max(220, 16 * matrix.shape[0] + 90))),
                      margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis={"title": {"text": column_title}}, yaxis={"autorange": "reversed", "type": "category"})
    return fig


def scores_heatmap(scores: np.ndarray, mask: np.ndarray, tokens, *, title: str = "") -> go.Figure:
    """Raw scores S on a diverging scale; cells the mask forbids are left blank (they become −∞)."""
    shown = np.where(mask, scores, np.nan).astype(np.float32)
    bound = float(np.nanmax(np.abs(shown))) if np.isfinite(shown).any() else 1.0
    labels = axis_labels(tokens)
    fig = go.Figure(go.Heatmap(
        z=shown, x=labels, y=labels, colorscale=DIVERGING, zmin=-bound, zmax=bound, hoverongaps=False,
        hovertemplate="query %{y}<br>key %{x}<br>score %{z:.4f}<extra></extra>",
    ))
    _square(fig, len(tokens), title)
    return fig


def mask_heatmap(mask: np.ndarray, tokens, *, title: str = "mask") -> go.Figure:
    """Which keys each query may see: green = allowed, dark = forbidden (its score becomes −∞)."""
    labels = axis_labels(tokens)
    fig = go.Figure(go.Heatmap(
        z=np.asarray(mask, dtype=np.float32), x=labels, y=labels, zmin=0, zmax=1, showscale=False,
        colorscale=[[0, "#3a3a3a"], [1, "#9fd89f"]], xgap=1, ygap=1,
        hovertemplate="query %{y}<br>key %{x}<br>allowed %{z}<extra></extra>",
    ))
    _square(fig, len(tokens), title)
    return fig


def weights_heatmap(weights: np.ndarray, tokens, *, title: str = "", colorbar: bool = True) -> go.Figure:
    """Attention weights (rows sum to 1) on the 0–1 scale used everywhere in the lab."""
    fig = attention_heatmap(weights, tokens, tokens, title=title, zmax=1.0)
    fig.update_traces(showscale=colorbar)
    _square(fig, len(tokens), title)
    return fig


def difference_heatmap(a: np.ndarray, b: np.ndarray, tokens, *, title: str = "") -> go.Figure:
    """a − b on a diverging scale (e.g. cosine weights minus scaled-dot weights)."""
    diff = np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)
    bound = float(np.abs(diff).max(initial=0.0)) or 1e-6
    labels = axis_labels(tokens)
    fig = go.Figure(go.Heatmap(z=diff, x=labels, y=labels, colorscale=DIVERGING, zmin=-bound, zmax=bound,
                               hovertemplate="query %{y}<br>key %{x}<br>difference %{z:.4f}<extra></extra>"))
    _square(fig, len(tokens), title)
    return fig


def _square(fig: go.Figure, n: int, title: str) -> None:
    """A compact token × token layout: every label shown (up to 48 tokens), no axis titles (rows are
    queries, columns keys, as everywhere in attnviz)."""
    every = {"tickmode": "array", "tickvals": list(fig.data[0].x)} if n <= 48 else {}
    fig.update_layout(
        title={"text": html.escape(title, quote=False), "y": 0.995, "yanchor": "top"},
        height=int(min(560, max(300, 15 * n + 110))), margin={"l": 10, "r": 10, "t": 70, "b": 10},
        xaxis={"side": "top", "tickangle": -90, "type": "category", "showticklabels": n <= 64, "title": None,
               "tickfont": {"size": 10}, **every},
        yaxis={"autorange": "reversed", "type": "category", "showticklabels": n <= 64, "title": None,
               "tickfont": {"size": 10}, **({"tickmode": "array", "tickvals": list(fig.data[0].y)} if every else {})},
    )
