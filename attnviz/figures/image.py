"""Image figures: patch maps drawn over the picture the model read (pure functions, nothing runs a model).

Every map is drawn as **patch squares** (one constant colour per patch, no interpolation) over the image
after the processor's resizing and cropping (``ImageEncoding.shown``), so each square is exactly the
pixels one token read. A single overlay has its own colour bar; the model view scales every thumbnail to
its own maximum (said in its title).
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

from ..attention import AttentionResult
from ..vision.maps import grid_of, n_prefix, query_map, rollout_map

HEAT = "Inferno"
DIVERGING = "RdBu_r"


def image_uri(image: np.ndarray, *, max_side: int | None = None, fmt: str = "PNG") -> str:
    """An [H, W, 3] uint8 image as a data URI (optionally shrunk so its longer side is ``max_side``)."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if max_side and max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    picture.save(buf, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def patch_overlay(image: np.ndarray, grid: np.ndarray, *, title: str = "", colorbar_title: str = "weight",
                  diverging: bool = False, opacity: float = 0.55, hover_names=None) -> go.Figure:
    """A [rows, cols] map as translucent patch squares over an [H, W, 3] image (clickable per patch)."""
    grid = np.asarray(grid, dtype=np.float32)
    rows, cols = grid.shape
    h, w = image.shape[:2]
    dy, dx = h / rows, w / cols
    peak = float(np.abs(grid).max(initial=0.0)) or 1e-6
    names = np.asarray(hover_names if hover_names is not None
                       else [f"r{r}c{c}" for r in range(rows) for c in range(cols)], dtype=object).reshape(rows, cols)
    fig = go.Figure(go.Image(source=image_uri(image), x0=0, dx=1, y0=0, dy=1, hoverinfo="skip"))
    fig.add_trace(go.Heatmap(
        z=grid, x0=dx / 2, dx=dx, y0=dy / 2, dy=dy, opacity=opacity, customdata=names, hoverinfo="skip",
        colorscale=DIVERGING if diverging else HEAT, zmin=-peak if diverging else 0.0, zmax=peak,
        zmid=0.0 if diverging else None, colorbar={"title": {"text": colorbar_title}}))
    side = 520
    # an invisible marker over each patch: heatmaps cannot be selected, markers can (a click picks the patch)
    r_idx, c_idx = np.divmod(np.arange(rows * cols), cols)
    fig.add_trace(go.Scatter(
        x=(c_idx + 0.5) * dx, y=(r_idx + 0.5) * dy, mode="markers", customdata=names.reshape(-1),
        text=[f"{v:.4f}" for v in grid.reshape(-1)], showlegend=False,
        marker={"size": max(4, int(0.9 * (side - 60) / max(rows, cols))), "symbol": "square", "opacity": 0.01,
                "color": "#ffffff"},
        hovertemplate="%{customdata}<br>" + colorbar_title + ": %{text}<extra></extra>"))
    fig.update_layout(
        title={"text": html.escape(title, quote=False)}, height=side, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"range": [0, w], "showgrid": False, "zeroline": False, "visible": False},
        yaxis={"range": [h, 0], "showgrid": False, "zeroline": False, "visible": False, "scaleanchor": "x"},
        clickmode="event+select", dragmode=False)
    return fig


def _token_label(result: AttentionResult, query: int) -> str:
    return html.escape(result.tokens[query], quote=False)


def attention_overlay(image: np.ndarray, result: AttentionResult, layer_pos: int, head: int | None,
                      query: int = 0) -> go.Figure:
    """What token ``query`` (default [CLS]) attends to in one head (None: the mean over heads), on the image."""
    grid = query_map(result, layer_pos, head, query)
    row = result.attentions[layer_pos, :, query].mean(0) if head is None else result.attentions[layer_pos, head, query]
    prefix = n_prefix(result)
    on_prefix = ", ".join(f"{html.escape(t, quote=False)} {row[i]:.2f}" for i, t in enumerate(result.tokens[:prefix]))
    which = "mean over heads" if head is None else f"head {head}"
    return patch_overlay(image, grid, title=f"{_token_label(result, query)} → patches · layer "
                                            f"{result.layers[layer_pos]} · {which} · not on patches: {on_prefix}")


def rollout_overlay(image: np.ndarray, result: AttentionResult) -> go.Figure:
    """The [CLS] row of attention rollout (0.5·A + 0.5·I, mean over heads) over the patches."""
    return patch_overlay(image, rollout_map(result), colorbar_title="rollout",
                         title="Attention rollout from [CLS] (0.5·A + 0.5·I, heads averaged)")


def model_view_overlays(image: np.ndarray, result: AttentionResult, query: int = 0, *, thumb: int = 96,
                        gap: int = 4, selected: tuple[int, int] | None = None) -> go.Figure:
    """Every layer × head as a small overlay of token ``query``'s attention, in one PNG (each to its own max)."""
    rows, cols = grid_of(result)
    L, H = result.num_layers, result.num_heads
    small = Image.fromarray(np.asarray(image, dtype=np.uint8))
    small.thumbnail((thumb, thumb))
    base = np.asarray(small, dtype=np.float32)
    th, tw = base.shape[:2]
    lut = 255 * np.array(sample_colorscale(HEAT, np.linspace(0, 1, 256), colortype="tuple"), dtype=np.float32)
    canvas = np.full((L * (th + gap) - gap, H * (tw + gap) - gap, 3), 255, dtype=np.uint8)
    r_idx = np.minimum(np.arange(th) * rows // th, rows - 1)
    c_idx = np.minimum(np.arange(tw) * cols // tw, cols - 1)
    for li in range(L):
        for h in range(H):
            grid = query_map(result, li, h, query)
            grid = grid / grid.max() if grid.max() > 0 else grid
            colours = lut[np.clip((grid * 255).round(), 0, 255).astype(int)][r_idx][:, c_idx]
            y, x = li * (th + gap), h * (tw + gap)
            canvas[y:y + th, x:x + tw] = (0.45 * base + 0.55 * colours).round().astype(np.uint8)
    fig = go.Figure(go.Image(source=image_uri(canvas), hoverinfo="skip"))
    centers = [(li, h) for li in range(L) for h in range(H)]
    fig.add_trace(go.Scatter(
        x=[h * (tw + gap) + tw / 2 for _, h in centers], y=[li * (th + gap) + th / 2 for li, _ in centers],
        customdata=[[li, h, result.layers[li]] for li, h in centers], mode="markers",
        marker={"size": max(8, min(th, tw)), "symbol": "square", "opacity": 0.01, "color": "#ffffff"},
        hovertemplate="layer %{customdata[2]} · head %{customdata[1]}<br>click to enlarge<extra></extra>",
        showlegend=False))
    shapes = []
    if selected is not None:
        li, h = selected
        shapes.append({"type": "rect", "x0": h * (tw + gap) - 2, "x1": h * (tw + gap) + tw + 1,
                       "y0": li * (th + gap) - 2, "y1": li * (th + gap) + th + 1,
                       "line": {"color": "#2e86e4", "width": 3}})
    fig.update_layout(
        title={"text": f"{_token_label(result, query)} → patches, every layer × head (each scaled to its own max)"},
        shapes=shapes, height=int(min(1400, 90 + L * (th + gap) * max(1.0, 900 / max(1, H * (tw + gap))))),
        margin={"l": 10, "r": 10, "t": 60, "b": 10}, clickmode="event+select", dragmode=False,
        xaxis={"tickvals": [h * (tw + gap) + tw / 2 for h in range(H)], "ticktext": [f"head {h}" for h in range(H)],
               "side": "top", "showgrid": False, "zeroline": False, "range": [-0.5, canvas.shape[1] - 0.5]},
        yaxis={"tickvals": [li * (th + gap) + th / 2 for li in range(L)], "range": [canvas.shape[0] - 0.5, -0.5],
               "ticktext": [f"layer {lay}" for lay in result.layers], "showgrid": False, "zeroline": False,
               "scaleanchor": "x"})
    return fig


def mean_distance_figure(distances: pd.DataFrame) -> go.Figure:
    """Mean attention distance per head against the layer (ViT paper, Figure 7): one dot per head."""
    fig = go.Figure(go.Scatter(
        x=distances["layer"], y=distances["mean_distance"], mode="markers", customdata=distances["head"],
        marker={"size": 9, "color": distances["head"], "colorscale": "Turbo", "showscale": False},
        hovertemplate="layer %{x} · head %{customdata}<br>mean distance %{y:.1f} px<extra></extra>"))
    fig.update_layout(title={"text": "Mean attention distance per head (pixels of the model's input)"},
                      xaxis={"title": {"text": "layer"}, "dtick": 1},
                      yaxis={"title": {"text": "mean attention distance (px)"}, "rangemode": "tozero"},
                      height=420, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def attribution_overlay(image: np.ndarray, attribution) -> go.Figure:
    """An :class:`~attnviz.vision.attribution.ImageAttribution` as patch squares (signed: red +, blue −)."""
    signed = bool((attribution.scores < 0).any())
    return patch_overlay(image, attribution.scores, diverging=signed, colorbar_title="score",
                         title=f"{attribution.title} · class {html.escape(attribution.label, quote=False)} "
                               f"(logit {attribution.value:.3f})")


def cross_attention_overlay(image: np.ndarray, result: AttentionResult, word: int, *, layer_pos: int,
                            head: int | None) -> go.Figure:
    """Where a captioner looked while writing word ``word``: its cross-attention row over the patches."""
    att = result.cross_attentions[layer_pos, :, word]
    row = att.mean(0) if head is None else att[head]
    grid = row[len(row) - np.prod(grid_of(result)):].reshape(grid_of(result))
    which = "mean over heads" if head is None else f"head {head}"
    token = html.escape(result.decoder_tokens[word], quote=False)
    return patch_overlay(image, grid, colorbar_title="cross-attention",
                         title=f"writing “{token}” · layer {result.layers[layer_pos]} · {which}")
