"""Figures of the Attribution page: token scores per method, explainer agreement and faithfulness (:mod:`attnviz.metrics`).

Pure functions, nothing runs a model. Method names and tokens are untrusted text and are HTML-escaped
before they reach plotly (which reads ``<b>``-like text as markup). Tokens sit at integer x positions with
escaped tick labels, so a repeated token ("the" twice) keeps its own column.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from .attention import axis_labels

__all__ = ["agreement_heatmap", "faithfulness_bars", "faithfulness_curves", "token_score_rows"]

DIVERGING = "RdBu_r"  # blue = negative, white = 0, red = positive
PALETTE = qualitative.Plotly
BASELINE_COLOR = "#7f7f7f"
_MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}

# key in a result dict -> (axis title, subplot title)
_BAR_METRICS = {
    "aopc_comprehensiveness": ("comprehensiveness AOPC (higher is better)", "Comprehensiveness"),
    "aopc_sufficiency": ("sufficiency AOPC (lower is better)", "Sufficiency"),
    "deletion_auc": ("deletion AUC (lower is better)", "Deletion"),
    "insertion_auc": ("insertion AUC (higher is better)", "Insertion"),
}


def _esc(text) -> str:
    return html.escape(str(text), quote=False)


def _is_baseline(result: Mapping) -> bool:
    """A :func:`attnviz.metrics.random_baseline` result (has averaged ``mean`` and ``std``)."""
    return isinstance(result, Mapping) and isinstance(result.get("mean"), Mapping) and "std" in result


# ------------------------------------------------------------------ agreement
def agreement_heatmap(matrix: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Methods × methods agreement (from :func:`attnviz.metrics.agreement_matrix`), values written in cells.

    Colours are diverging over the fixed range −1..1 (blue negative, red positive), so a ρ of 0.3 looks
    the same in every figure. NaN cells (undefined, e.g. a constant explanation) stay blank and read "n/a".
    """
    metric = str(matrix.attrs.get("metric", "agreement"))
    values = matrix.to_numpy(dtype=np.float64)
    rows, cols = [_esc(i) for i in matrix.index], [_esc(c) for c in matrix.columns]
    text = [["n/a" if np.isnan(v) else f"{v:.2f}" for v in row] for row in values]
    fig = go.Figure(go.Heatmap(
        z=values, x=cols, y=rows, text=text, texttemplate="%{text}", colorscale=DIVERGING,
        zmin=-1.0, zmax=1.0, zmid=0.0, colorbar={"title": {"text": _esc(metric)}},
        hovertemplate="%{y} vs %{x}<br>" + _esc(metric) + ": %{text}<extra></extra>",
    ))
    if title is None:
        top_k = metric.endswith("_agreement") and metric != "pairwise_rank_agreement"
        title = f"Explainer agreement: {metric}" + (f" at top-{matrix.attrs['k']}" if top_k and
                                                     matrix.attrs.get("k") else "")
    side = int(min(800, max(300, 60 * len(rows) + 160)))
    fig.update_layout(
        title={"text": _esc(title)}, height=side, margin=_MARGIN,
        xaxis={"type": "category", "side": "top"},
        yaxis={"type": "category", "autorange": "reversed", "scaleanchor": "x"},
    )
    return fig


def token_score_rows(tokens: Sequence[str], scores: Mapping[str, np.ndarray], *,
                     title: str = "Token scores by method") -> go.Figure:
    """One row per method over the same tokens, each row divided by its own max |score|.

    Red is positive, blue negative, white zero; the raw score is in the hover, so rows with very different
    scales (attention vs. IG) are comparable by shape without hiding their values.

    Args:
        tokens: the n tokens (untrusted text; escaped here).
        scores: ``{method: [n] scores}``.
        title: figure title.
    """
    tokens = list(tokens)
    n = len(tokens)
    names = list(scores)
    raw = np.zeros((len(names), n), dtype=np.float64)
    for i, name in enumerate(names):
        row = np.asarray(scores[name], dtype=np.float64)
        if row.shape != (n,):
            raise ValueError(f"scores[{name!r}] has shape {row.shape}; expected one score per token ({n}).")
        raw[i] = row
    peak = np.abs(raw).max(axis=1, initial=0.0, keepdims=True)
    norm = np.divide(raw, peak, out=np.zeros_like(raw), where=peak > 0)
    labels = axis_labels(tokens)
    fig = go.Figure(go.Heatmap(
        z=norm.astype(np.float32), x=np.arange(n), y=[_esc(name) for name in names],
        text=[labels] * len(names), customdata=raw, colorscale=DIVERGING, zmin=-1.0, zmax=1.0, zmid=0.0,
        xgap=1, ygap=2, colorbar={"title": {"text": "score / max |score|"}},
        hovertemplate="token %{x}: %{text}<br>method: %{y}<br>score: %{customdata:.4g}"
                      "<br>relative: %{z:.2f}<extra></extra>",
    ))
    fig.update_layout(
        title={"text": _esc(title)}, height=int(120 + 48 * max(1, len(names))), margin=_MARGIN,
        xaxis={"tickmode": "array", "tickvals": list(range(n)), "ticktext": labels, "tickangle": -60,
               "showticklabels": n <= 128, "showgrid": False, "zeroline": False},
        yaxis={"type": "category", "autorange": "reversed"},
    )
    return fig


# --------------------------------------------------------------- faithfulness
def faithfulness_curves(curves: Mapping[str, Mapping], *, baseline: Mapping | None = None,
                        title: str = "Deletion and insertion curves") -> go.Figure:
    """Deletion and insertion curves per method, side by side, with the random baseline dashed.

    Args:
        curves: ``{method: deletion_insertion(...) result}``. An entry that is a
            :func:`attnviz.metrics.random_baseline` result over ``deletion_insertion`` is drawn as a
            baseline (dashed grey, its mean curve).
        baseline: another way to pass one random baseline (named "random").
        title: figure title.

    Returns:
        Two subplots (deletion left, insertion right), one trace per method and curve; the legend gives
        each curve's AUC.
    """
    entries = dict(curves)
    if baseline is not None:
        entries.setdefault("random", baseline)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(
        "Deletion: remove most important first (AUC: lower is better)",
        "Insertion: add most important first (AUC: higher is better)"))
    color_index = 0
    for name, result in entries.items():
        is_base = _is_baseline(result)
        data = result["mean"] if is_base else result
        if is_base:
            color, dash = BASELINE_COLOR, "dash"
        else:
            color, dash = PALETTE[color_index % len(PALETTE)], "solid"
            color_index += 1
        std = result.get("std", {}) if is_base else {}
        for col, curve in ((1, "deletion"), (2, "insertion")):
            auc = float(data[f"{curve}_auc"])
            spread = std.get(f"{curve}_auc")
            label = f"{_esc(name)} · {curve} AUC {auc:.3f}" + (f" ± {spread:.3f}" if spread else "")
            fig.add_trace(go.Scatter(
                x=np.asarray(data["fractions"], dtype=np.float64), y=np.asarray(data[curve], dtype=np.float64),
                mode="lines+markers" if len(data["fractions"]) <= 60 else "lines", name=label,
                legendgroup=_esc(name), line={"color": color, "dash": dash}, marker={"size": 4},
                hovertemplate=_esc(name) + f" ({curve})<br>fraction: %{{x:.2f}}<br>f: %{{y:.4f}}<extra></extra>",
            ), row=1, col=col)
    fig.update_xaxes(title_text="fraction of tokens removed", range=[0, 1], row=1, col=1)
    fig.update_xaxes(title_text="fraction of tokens added", range=[0, 1], row=1, col=2)
    fig.update_yaxes(title_text="model output f (falls fast = faithful)", row=1, col=1)
    fig.update_yaxes(title_text="model output f (rises fast = faithful)", row=1, col=2)
    fig.update_layout(title={"text": _esc(title)}, height=440, margin={**_MARGIN, "t": 90},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def faithfulness_bars(results: Mapping[str, Mapping], *, baseline: Mapping | None = None,
                      title: str = "Faithfulness by method") -> go.Figure:
    """Bars of ERASER AOPC (and deletion/insertion AUC when present) per method, beside chance.

    Args:
        results: ``{method: result}`` where a result is an :func:`attnviz.metrics.eraser` result, a
            :func:`attnviz.metrics.deletion_insertion` result, or both merged into one dict. Entries that
            are :func:`attnviz.metrics.random_baseline` results are drawn as grey baseline bars with their
            std as error bars.
        baseline: another way to pass one random baseline (named "random").
        title: figure title.

    Returns:
        One subplot per metric present (comprehensiveness, sufficiency, deletion AUC, insertion AUC, in
        that order); in each, one bar trace for the methods and one for the baselines (when any). Axis
        titles say which direction is better.
    """
    entries = dict(results)
    if baseline is not None:
        entries.setdefault("random", baseline)
    methods = {name: r for name, r in entries.items() if not _is_baseline(r)}
    bases = {name: r for name, r in entries.items() if _is_baseline(r)}
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(methods)}
    present = [key for key in _BAR_METRICS
               if any(key in r for r in methods.values()) or any(key in r["mean"] for r in bases.values())]
    if not present:
        raise ValueError("No faithfulness metric found: expected eraser() or deletion_insertion() results.")
    fig = make_subplots(rows=1, cols=len(present), horizontal_spacing=0.1,
                        subplot_titles=[_BAR_METRICS[key][1] for key in present])
    legend_shown = False
    for col, key in enumerate(present, start=1):
        names = [name for name, r in methods.items() if key in r]
        if names:
            fig.add_trace(go.Bar(
                x=[_esc(name) for name in names], y=[float(methods[name][key]) for name in names],
                marker_color=[colors[name] for name in names], name="methods", showlegend=False,
                hovertemplate="%{x}<br>" + key + ": %{y:.4f}<extra></extra>",
            ), row=1, col=col)
        base_names = [name for name, r in bases.items() if key in r["mean"]]
        if base_names:
            spread = [float(bases[name]["std"].get(key, 0.0)) for name in base_names]
            fig.add_trace(go.Bar(
                x=[_esc(name) for name in base_names], y=[float(bases[name]["mean"][key]) for name in base_names],
                error_y={"type": "data", "visible": True, "array": spread}, customdata=spread,
                marker_color=BASELINE_COLOR, name="random baseline (mean ± std)", showlegend=not legend_shown,
                hovertemplate="%{x} (random rankings)<br>" + key + ": %{y:.4f} ± %{customdata:.4f}"
                              "<extra></extra>",
            ), row=1, col=col)
            legend_shown = True
        fig.update_yaxes(title_text=_BAR_METRICS[key][0], row=1, col=col)
    fig.update_layout(title={"text": _esc(title)}, height=400, margin={**_MARGIN, "t": 90}, bargap=0.3,
                      legend={"orientation": "h", "y": -0.25})
    return fig
