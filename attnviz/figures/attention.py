"""Attention figures: pure functions from an AttentionResult (or its arrays) to a plotly Figure.

Nothing here runs a model. Sizes matter at 512 tokens: heatmaps ship float32 typed arrays (plotly
encodes numpy as base64 'bdata', ~5.3 bytes a value instead of ~22 as JSON text), and the model view
ships all layers × heads as one PNG of block-averaged thumbnails instead of 18.9 M numbers.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import sample_colorscale

from ..attention import HEAD_STAT_COLUMNS, READOUTS, AttentionResult

COLORSCALE = "Viridis"
_STACK_TITLES = {"self": "self-attention", "decoder": "decoder self-attention", "cross": "cross-attention"}


# ----------------------------------------------------------------- labels
def display_token(token: str) -> str:
    """A token as people read it: BPE space markers shown as '▁', newlines as '↵'."""
    return token.replace("Ġ", "▁").replace("Ċ", "↵").replace("\n", "↵") or "∅"


def axis_labels(tokens) -> list[str]:
    """Escaped, unique labels for a categorical axis.

    Plotly treats '<b>'-like text as markup, so tokens are HTML-escaped; repeated tokens ("the" twice)
    would merge on a categorical axis, so repeats get invisible zero-width suffixes.
    """
    seen: dict[str, int] = {}
    labels = []
    for tok in tokens:
        label = html.escape(display_token(tok), quote=False)
        count = seen.get(label, 0)
        seen[label] = count + 1
        labels.append(label + "\u200b" * count)
    return labels


# --------------------------------------------------------------- heatmaps
def attention_heatmap(matrix: np.ndarray, query_tokens, key_tokens, *, title: str = "",
                      zmax: float | None = None, colorbar_title: str = "weight") -> go.Figure:
    """[q, k] weights as a heatmap: rows = queries (who attends), columns = keys (attended to)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    nq, nk = matrix.shape
    fig = go.Figure(go.Heatmap(
        z=matrix, x=axis_labels(key_tokens), y=axis_labels(query_tokens), colorscale=COLORSCALE, zmin=0,
        zmax=zmax if zmax is not None else float(max(matrix.max(initial=0.0), 1e-6)),
        hovertemplate="query: %{y}<br>key: %{x}<br>" + colorbar_title + ": %{z:.4f}<extra></extra>",
        colorbar={"title": {"text": colorbar_title}},
    ))
    side = int(min(900, max(320, 14 * max(nq, nk) + 120)))
    fig.update_layout(
        title={"text": html.escape(title, quote=False)}, height=side, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"title": {"text": "key (attended to)"}, "side": "top", "tickangle": -60,
               "showticklabels": nk <= 128, "type": "category"},
        yaxis={"title": {"text": "query (attending)"}, "autorange": "reversed",
               "showticklabels": nq <= 128, "type": "category"},
    )
    return fig


def head_heatmap(result: AttentionResult, layer_pos: int, head: int, *, stack: str = "self") -> go.Figure:
    """One head of one layer (``layer_pos`` indexes ``result.layers``)."""
    att, q_tokens, k_tokens = result.stack(stack)
    title = f"Layer {result.layers[layer_pos]} · head {head} — {_STACK_TITLES[stack]}"
    return attention_heatmap(att[layer_pos, head], q_tokens, k_tokens, title=title)


def mean_heads_heatmap(result: AttentionResult, layer_pos: int, *, stack: str = "self") -> go.Figure:
    att, q_tokens, k_tokens = result.stack(stack)
    title = f"Layer {result.layers[layer_pos]} · mean over {att.shape[1]} heads — {_STACK_TITLES[stack]}"
    return attention_heatmap(att[layer_pos].mean(axis=0), q_tokens, k_tokens, title=title)


def kv_group_heatmap(result: AttentionResult, layer_pos: int, group: int, *, stack: str = "self") -> go.Figure:
    """One key/value group of one layer: the mean of the query heads that share it (``result.group_mean``)."""
    _, q_tokens, k_tokens = result.stack(stack)
    members = result.kv_groups[group]
    title = (f"Layer {result.layers[layer_pos]} · key/value group {group} (mean of heads {members[0]}–{members[-1]})"
             f" — {_STACK_TITLES[stack]}")
    return attention_heatmap(result.group_mean(stack)[layer_pos, group], q_tokens, k_tokens, title=title)


def kv_group_labels(kv_groups) -> list[str]:
    """Column labels of a model view whose columns are key/value group means."""
    return [f"kv {g} (heads {m[0]}–{m[-1]})" for g, m in enumerate(kv_groups)]


def rollout_heatmap(result: AttentionResult) -> go.Figure:
    return attention_heatmap(result.rollout(), result.tokens, result.tokens,
                             title=f"Attention rollout through {result.num_layers} layers", colorbar_title="share")


def rollout_readout_bar(result: AttentionResult, scores: np.ndarray | None = None) -> go.Figure:
    """One bar per input token: the rollout row(s) the model's output is read from."""
    scores = result.rollout_readout() if scores is None else scores
    labels = axis_labels(result.tokens)
    fig = go.Figure(go.Bar(x=labels, y=np.asarray(scores, dtype=np.float32),
                           hovertemplate="%{x}: %{y:.4f}<extra></extra>", marker_color="#3b6ea8"))
    fig.update_layout(
        title={"text": f"Rollout readout: {READOUTS[result.readout]}"}, height=320,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"type": "category", "tickangle": -60, "showticklabels": len(labels) <= 128},
        yaxis={"title": {"text": "share of the output"}},
    )
    return fig


# ------------------------------------------------------------- model view
def block_average(matrix: np.ndarray, size: int, how: str = "mean") -> np.ndarray:
    """[q, k] → [≤size, ≤size] by averaging blocks (keeps each block's share, unlike striding).

    ``how="max"`` keeps each block's largest weight instead: one sharp weight survives the downsampling.
    """
    out = np.asarray(matrix, dtype=np.float32)
    for axis in (0, 1):
        n = out.shape[axis]
        if n > size:
            edges = np.linspace(0, n, size + 1).astype(int)
            if how == "max":
                out = np.maximum.reduceat(out, edges[:-1], axis=axis)
            else:
                out = np.add.reduceat(out, edges[:-1], axis=axis) / np.diff(edges).reshape(
                    (-1, 1) if axis == 0 else (1, -1))
    return out


def model_view(attentions: np.ndarray, *, layers=None, thumb: int = 64, gap: int = 3,
               selected: tuple[int, int] | None = None, title: str = "", kv_groups=None,
               head_labels: list[str] | None = None, head_ids: list[int] | None = None) -> go.Figure:
    """All layers × heads as a grid of thumbnails in one PNG (each head scaled to its own max).

    Args:
        attentions: [layers, heads, q, k].
        layers: the model layer index of each row (labels); default 0..L-1.
        thumb: thumbnail side in pixels; inputs longer than this are block-averaged.
        selected: (layer_pos, column) to outline.
        kv_groups: grouped-query attention (``result.kv_groups``): the query heads sharing each key/value
            head; columns are labelled with their group and a dashed line separates the groups.
        head_labels: one label per column (default "head h", with its key/value group when given).
        head_ids: the head a click on each column selects (default: the column index); e.g. the first
            head of each group when the columns are group means.
    """
    L, H, nq, nk = attentions.shape
    layers = list(range(L)) if layers is None else list(layers)
    th, tw = min(nq, thumb), min(nk, thumb)
    scale = max(1, thumb // max(th, tw))  # small inputs: upscale so cells stay visible
    th, tw = th * scale, tw * scale
    canvas = np.full((L * (th + gap) - gap, H * (tw + gap) - gap), np.nan, dtype=np.float32)
    for li in range(L):
        for h in range(H):
            small = block_average(attentions[li, h], thumb)
            peak = small.max()
            small = small / peak if peak > 0 else small
            if scale > 1:
                small = np.kron(small, np.ones((scale, scale), dtype=np.float32))
            y, x = li * (th + gap), h * (tw + gap)
            canvas[y:y + th, x:x + tw] = small
    lut = np.array([_rgb(c) for c in sample_colorscale(COLORSCALE, np.linspace(0, 1, 256))], dtype=np.uint8)
    rgb = np.full(canvas.shape + (3,), 255, dtype=np.uint8)
    filled = ~np.isnan(canvas)
    rgb[filled] = lut[np.clip((canvas[filled] * 255).round(), 0, 255).astype(int)]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    source = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

    fig = go.Figure(go.Image(source=source, hoverinfo="skip"))
    # One invisible marker per thumbnail: hover names the head, a click selects it (see pages/attention.py).
    group_of = {h: g for g, members in enumerate(kv_groups or ()) for h in members}
    if head_labels is None:
        head_labels = [f"head {h}" + (f" · kv {group_of[h]}" if h in group_of else "") for h in range(H)]
    head_ids = list(range(H)) if head_ids is None else [int(h) for h in head_ids]
    centers = [(li, h) for li in range(L) for h in range(H)]
    fig.add_trace(go.Scatter(
        x=[h * (tw + gap) + tw / 2 for _, h in centers], y=[li * (th + gap) + th / 2 for li, _ in centers],
        customdata=[[li, head_ids[h], layers[li]] for li, h in centers], mode="markers",
        text=[html.escape(head_labels[h], quote=False) for _, h in centers],
        marker={"size": max(8, min(th, tw)), "symbol": "square", "opacity": 0.01, "color": "#ffffff"},
        hovertemplate="layer %{customdata[2]} · %{text}<br>click to enlarge<extra></extra>",
        showlegend=False,
    ))
    shapes = [{"type": "line", "x0": h * (tw + gap) - gap / 2, "x1": h * (tw + gap) - gap / 2,
               "y0": -0.5, "y1": canvas.shape[0] - 0.5, "line": {"color": "#444444", "width": 2, "dash": "dash"}}
              for h in range(1, H) if h in group_of and group_of[h] != group_of.get(h - 1)]
    if selected is not None:
        li, h = selected
        shapes.append({"type": "rect", "x0": h * (tw + gap) - 1.5, "x1": h * (tw + gap) + tw + 0.5,
                       "y0": li * (th + gap) - 1.5, "y1": li * (th + gap) + th + 0.5,
                       "line": {"color": "#e4572e", "width": 3}})
    fig.update_layout(
        title={"text": html.escape(title, quote=False)}, shapes=shapes,
        height=int(min(1100, 90 + L * (th + gap) * max(1.0, 700 / max(1, H * (tw + gap))))),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        xaxis={"tickvals": [h * (tw + gap) + tw / 2 for h in range(H)], "range": [-0.5, canvas.shape[1] - 0.5],
               "ticktext": [html.escape(label, quote=False) for label in head_labels], "side": "top", "showgrid": False, "zeroline": False},
        yaxis={"tickvals": [li * (th + gap) + th / 2 for li in range(L)], "range": [canvas.shape[0] - 0.5, -0.5],
               "ticktext": [f"layer {lay}" for lay in layers], "showgrid": False, "zeroline": False,
               "scaleanchor": "x"},
        clickmode="event+select", dragmode=False,
    )
    return fig


def _rgb(color: str) -> tuple[int, int, int]:
    if color.startswith("#"):
        return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))
    parts = color[color.index("(") + 1:color.index(")")].split(",")
    return tuple(int(float(p)) for p in parts[:3])


# -------------------------------------------------------- head statistics
def head_statistics_heatmap(stats: pd.DataFrame, column: str = "entropy_norm") -> go.Figure:
    """Layers × heads grid of one statistic from :func:`attnviz.attention.head_statistics`."""
    grid = stats.pivot(index="layer", columns="head", values=column)
    patterns = stats.pivot(index="layer", columns="head", values="pattern")
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(dtype=np.float32), x=[f"head {h}" for h in grid.columns],
        y=[f"layer {lay}" for lay in grid.index], customdata=patterns.to_numpy(), colorscale=COLORSCALE,
        hovertemplate="%{y}, %{x}<br>" + column + ": %{z:.3f}<br>pattern: %{customdata}<extra></extra>",
        colorbar={"title": {"text": column}},
    ))
    fig.update_layout(title={"text": f"{column}: {HEAD_STAT_COLUMNS.get(column, '')}"},
                      height=120 + 40 * len(grid.index), margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      yaxis={"autorange": "reversed"})
    return fig
