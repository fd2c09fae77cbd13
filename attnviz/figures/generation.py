"""Generation figures: from a :class:`~attnviz.generation.GenerationResult` to plotly Figures.

Pure functions, nothing runs a model. Tokens are untrusted text and are escaped (``axis_labels``).
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from ..generation import ROWS, GenerationResult
from .attention import COLORSCALE, axis_labels

_MARGIN = {"l": 10, "r": 10, "t": 80, "b": 10}
PROMPT_COLOR, GENERATED_COLOR, CHOSEN_COLOR = "#9aa5b1", "#3b6ea8", "#d9822b"

__all__ = ["generated_probabilities", "token_attention_rows"]


def generated_probabilities(result: GenerationResult, chosen: int | None = None) -> go.Figure:
    """One bar per generated token: p(token | everything before it) under the model; ``chosen`` highlighted."""
    labels = axis_labels(result.generated_tokens)
    colors = [CHOSEN_COLOR if t == chosen else GENERATED_COLOR for t in range(result.n_generated)]
    fig = go.Figure(go.Bar(
        x=np.arange(result.n_generated), y=result.probabilities.astype(np.float32), marker_color=colors,
        text=labels, textposition="none", hovertemplate="step %{x}: %{text}<br>p = %{y:.4f}<extra></extra>"))
    how = "sampled" if result.settings.get("do_sample") else "greedy"
    fig.update_layout(
        title={"text": f"Generated tokens ({how}) and the model's probability of each"}, height=300,
        margin=_MARGIN, yaxis={"title": {"text": "p(token | before)"}, "rangemode": "tozero"},
        xaxis={"tickmode": "array", "tickvals": list(range(result.n_generated)), "ticktext": labels,
               "tickangle": -60, "showticklabels": result.n_generated <= 128},
    )
    return fig


def token_attention_rows(result: GenerationResult, step: int, *, which: str = "predicting",
                         layer: int | None = None) -> go.Figure:
    """Attention row(s) of generated token ``step`` over its keys.

    ``layer`` None: one row per layer, averaged over heads; an int: one row per head of that layer.
    A dotted line separates the prompt from the generated tokens.
    """
    rows = result.attention_row(step, which=which)  # [layers, heads, keys]
    keys = result.tokens[:rows.shape[-1]]
    if layer is None:
        z = rows.mean(axis=1)
        y = [f"layer {i}" for i in range(z.shape[0])]
        what = f"mean over {rows.shape[1]} heads, every layer"
    else:
        z = rows[layer]
        y = [f"head {h}" for h in range(z.shape[0])]
        what = f"layer {layer}, every head"
    token = html.escape(result.generated_tokens[step], quote=False)
    fig = go.Figure(go.Heatmap(
        z=z.astype(np.float32), x=np.arange(len(keys)), y=y, text=[axis_labels(keys)] * len(y),
        colorscale=COLORSCALE, zmin=0, zmax=float(max(z.max(initial=0.0), 1e-6)), xgap=1, ygap=1,
        colorbar={"title": {"text": "weight"}},
        hovertemplate="%{y}<br>key %{x}: %{text}<br>weight: %{z:.4f}<extra></extra>",
    ))
    boundary = result.n_prompt - 0.5
    if boundary < len(keys) - 0.5:
        fig.add_vline(x=boundary, line_dash="dot", line_color="#d9822b")
    fig.update_layout(
        title={"text": f"Step {step} ({token}): {html.escape(ROWS[which], quote=False)}<br><sup>{what}; "
                       "right of the dotted line: generated tokens</sup>"},
        height=int(min(760, max(300, 26 * len(y) + 230))), margin=_MARGIN,
        xaxis={"tickmode": "array", "tickvals": list(range(len(keys))), "ticktext": axis_labels(keys),
               "tickangle": -60, "showticklabels": len(keys) <= 128},
        yaxis={"type": "category", "autorange": "reversed"},
    )
    return fig
