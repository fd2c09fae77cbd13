"""Figures of the faithfulness leaderboard (:class:`attnviz.audit.leaderboard.Leaderboard`): pure functions."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..attribution import method_title

#: metric → (title, higher is better?)
PANELS = {"comprehensiveness": ("Comprehensiveness (AOPC) ↑", True), "sufficiency": ("Sufficiency (AOPC) ↓", False),
          "deletion_auc": ("Deletion AUC ↓", False), "insertion_auc": ("Insertion AUC ↑", True)}
RANDOM_COLOUR, METHOD_COLOUR = "#9e9e9e", "#1f77b4"


def leaderboard_figure(board) -> go.Figure:
    """One panel per metric: each method's mean with its 95 % bootstrap interval, the random ranking in grey
    and as a dotted line, methods in the same order in every panel (by comprehensiveness)."""
    table = board.table
    order = table[table["method"] != "random ranking"].sort_values("comprehensiveness", ascending=True)
    rows = [*order.to_dict("records"), *table[table["method"] == "random ranking"].to_dict("records")]
    names = [method_title(r["method"]) for r in rows]
    fig = make_subplots(rows=1, cols=len(PANELS), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[title for title, _ in PANELS.values()])
    for col, metric in enumerate(PANELS, start=1):
        means = np.array([r[metric] for r in rows], dtype=float)
        low = np.array([r[f"{metric}_low"] for r in rows], dtype=float)
        high = np.array([r[f"{metric}_high"] for r in rows], dtype=float)
        colours = [RANDOM_COLOUR if r["method"] == "random ranking" else METHOD_COLOUR for r in rows]
        fig.add_trace(go.Scatter(
            x=means, y=names, mode="markers", marker={"color": colours, "size": 9}, showlegend=False,
            error_x={"type": "data", "symmetric": False, "array": high - means, "arrayminus": means - low},
            hovertemplate="%{y}: %{x:.3f}<extra></extra>"), row=1, col=col)
        if rows and rows[-1]["method"] == "random ranking" and np.isfinite(means[-1]):
            fig.add_vline(x=float(means[-1]), line_dash="dot", line_color=RANDOM_COLOUR, row=1, col=col)
    fig.update_layout(height=120 + 28 * len(rows), margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      title={"text": f"Faithfulness on {board.settings.get('examples', '?')} examples "
                                     "(mean, 95% bootstrap interval; grey = random ranking)", "font": {"size": 14}})
    return fig


def agreement_figure(board) -> go.Figure:
    """Heatmap of the mean Spearman ρ of |φ| between methods over the examples."""
    matrix = board.agreement_matrix()
    titles = [method_title(m) for m in matrix.index]
    fig = go.Figure(go.Heatmap(z=matrix.to_numpy(), x=titles, y=titles, zmin=-1, zmax=1, colorscale="RdBu",
                               text=np.round(matrix.to_numpy(), 2), texttemplate="%{text}",
                               hovertemplate="%{y} vs %{x}: ρ = %{z:.2f}<extra></extra>",
                               colorbar={"title": "ρ"}))
    fig.update_layout(height=160 + 32 * len(titles), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title={"text": "Method agreement (mean Spearman ρ of |φ|)", "font": {"size": 14}})
    return fig
