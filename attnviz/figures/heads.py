"""Figures of head importance, head pruning and activation patching: pure functions of their results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def importance_figure(table: pd.DataFrame, *, selected=(), clickable: bool = False) -> go.Figure:
    """Heatmap [layer × head] of :func:`attnviz.heads.importance` (layer 0 at the top).

    ``selected``: (layer, head) pairs marked with a cross (the heads being ablated). ``clickable``: adds an
    invisible marker on every cell, because plotly heatmaps report no click or box selection in Streamlit
    (streamlit/streamlit#8760); a selected marker's x/y are the cell's "H<head>"/"L<layer>" labels.
    """
    grid = table.pivot(index="layer", columns="head", values="importance").sort_index()
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[f"H{h}" for h in grid.columns], y=[f"L{lay}" for lay in grid.index],
                               colorscale="Viridis", colorbar={"title": "|∂f/∂ξ|"},
                               hovertemplate="%{y} %{x}: %{z:.4f}<extra></extra>"))
    if clickable:
        cells = grid.stack().reset_index()
        cells.columns = ["layer", "head", "importance"]
        fig.add_trace(go.Scatter(
            x=[f"H{h}" for h in cells["head"]], y=[f"L{lay}" for lay in cells["layer"]], mode="markers",
            name="heads", showlegend=False, customdata=cells["importance"],
            marker={"symbol": "square", "size": 22, "opacity": 0}, selected={"marker": {"opacity": 0}},
            unselected={"marker": {"opacity": 0}},
            hovertemplate="%{y} %{x}: %{customdata:.4f} (click, or drag a box, to ablate)<extra></extra>"))
    if len(selected):
        fig.add_trace(go.Scatter(x=[f"H{h}" for _, h in selected], y=[f"L{lay}" for lay, _ in selected],
                                 mode="markers", name="ablated", showlegend=False, hoverinfo="skip",
                                 marker={"symbol": "x-thin", "size": 14, "line": {"width": 3, "color": "#e45756"}}))
    fig.update_xaxes(categoryorder="array", categoryarray=[f"H{h}" for h in grid.columns])
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=[f"L{lay}" for lay in grid.index])
    fig.update_layout(height=140 + 26 * len(grid), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title={"text": "Head importance (Michel et al. 2019)", "font": {"size": 14}},
                      clickmode="event+select" if clickable else "event")
    return fig


def prune_figure(curve: pd.DataFrame) -> go.Figure:
    """Mean f(x) and the share of texts keeping half their f, against heads removed (least important first)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve["removed"], y=curve["mean_f"], mode="lines+markers", name="mean f(x)"))
    fig.add_trace(go.Scatter(x=curve["removed"], y=curve["kept"], mode="lines+markers", name="share keeping ≥ ½ f",
                             line={"dash": "dot"}))
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis_title="heads removed",
                      title={"text": "Pruning the least important heads", "font": {"size": 14}})
    return fig


def patching_figure(result) -> go.Figure:
    """Two heatmaps of :class:`attnviz.patching.PatchingResult`: residual [layer × position] and heads
    [layer × head], the patching effect above its AtP estimate, one shared colour scale."""
    labels = [c if c == d else f"{c}→{d}" for c, d in zip(result.clean_tokens, result.corrupted_tokens)]
    limit = float(np.nanmax(np.abs(np.concatenate([result.residual.ravel(), result.residual_atp.ravel(),
                                                  result.heads.ravel(), result.heads_atp.ravel()]))) or 1.0)
    agree = result.agreement
    titles = ["Residual stream: patching", "Heads: patching",
              f"Residual: AtP (ρ = {agree['residual']['spearman']:.2f})",
              f"Heads: AtP (ρ = {agree['heads']['spearman']:.2f})"]
    fig = make_subplots(rows=2, cols=2, subplot_titles=titles, horizontal_spacing=0.08, vertical_spacing=0.12)
    layers = [f"L{lay}" for lay in range(result.residual.shape[0])]
    heads = [f"H{h}" for h in range(result.heads.shape[1])]
    for row, (resid, head) in enumerate(((result.residual, result.heads), (result.residual_atp, result.heads_atp)),
                                        start=1):
        for col, (z, x) in enumerate(((resid, labels), (head, heads)), start=1):
            fig.add_trace(go.Heatmap(z=z, x=list(range(len(x))), y=layers, zmin=-limit, zmax=limit,
                                     colorscale="RdBu", showscale=row == 1 and col == 2, customdata=np.array(
                                         [x] * len(layers)), colorbar={"title": "recovered"},
                                     hovertemplate="%{y} %{customdata}: %{z:.3f}<extra></extra>"), row=row, col=col)
            fig.update_xaxes(tickvals=list(range(len(x))), ticktext=x, row=row, col=col)
            fig.update_yaxes(autorange="reversed", row=row, col=col)
    fig.update_layout(height=200 + 50 * len(layers), margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig
