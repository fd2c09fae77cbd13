"""Compare-two figures: B − A heatmaps from :mod:`attnviz.diff` results.

Pure functions, nothing runs a model. Red means B is higher, blue A; gaps (units without a partner)
are NaN and show as blank rows/columns, and every figure states how many there are. Labels are
untrusted text and are escaped (``axis_labels``).
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from ..attribution import method_title
from ..diff import AttentionDiff, AttributionDiff
from .attention import axis_labels

DIVERGING = "RdBu_r"
_MARGIN = {"l": 10, "r": 10, "t": 90, "b": 10}
A_COLOR, B_COLOR = "#3b6ea8", "#d9822b"

__all__ = ["attention_diff_heatmap", "attribution_diff_bars", "attribution_diff_heatmap", "head_diff_grid"]


def _esc(text) -> str:
    return html.escape(str(text), quote=False)


def _bound(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1e-6


def _subtitle(note: str) -> str:
    return f"<br><sup>{_esc(note)}</sup>"


def attention_diff_heatmap(diff: AttentionDiff, layer_pos: int = 0, head: int | None = None) -> go.Figure:
    """[P, P] B − A for one layer row and one head (None: the mean over heads); gaps blank.

    Hover gives A's and B's weights next to the difference.
    """
    if not 0 <= layer_pos < len(diff.layer_labels):
        raise IndexError(f"layer_pos {layer_pos} out of range")
    if head is not None and not diff.per_head:
        raise ValueError("this comparison holds the mean over heads only")
    a, b = diff.a[layer_pos], diff.b[layer_pos]
    a, b = (a.mean(0), b.mean(0)) if head is None else (a[head], b[head])
    d = (b - a).astype(np.float32)
    labels = axis_labels(diff.labels)
    bound = _bound(d)
    custom = np.stack([a, b], axis=-1).astype(np.float32)
    fig = go.Figure(go.Heatmap(
        z=d, x=labels, y=labels, customdata=custom, colorscale=DIVERGING, zmin=-bound, zmax=bound, zmid=0.0,
        hoverongaps=False, colorbar={"title": {"text": "B − A"}},
        hovertemplate="query: %{y}<br>key: %{x}<br>A: %{customdata[0]:.4f}<br>B: %{customdata[1]:.4f}"
                      "<br>B − A: %{z:.4f}<extra></extra>",
    ))
    what = "mean over heads" if head is None else f"head {head}"
    if not diff.per_head:
        what = "mean over heads"
    title = f"Attention B − A · {diff.layer_labels[layer_pos]} · {what}"
    P = len(labels)
    fig.update_layout(
        # container-anchored with automargin: Chromium clipped the first line of the two-line title when it
        # was anchored at y=0.995 (plotly shifts a multi-line block up); this keeps both lines in view and
        # clear of the top-side tick labels and axis title
        title={"text": _esc(title) + _subtitle(diff.note), "yref": "container", "y": 1.0, "yanchor": "top",
               "pad": {"t": 20}, "automargin": True},
        height=int(min(960, max(400, 16 * P + 230))), margin={**_MARGIN, "t": 150}, plot_bgcolor="#eeeeee",
        xaxis={"title": {"text": "key (attended to)"}, "side": "top", "tickangle": -60, "type": "category",
               "showticklabels": P <= 128},
        yaxis={"title": {"text": "query (attending)"}, "autorange": "reversed", "type": "category",
               "showticklabels": P <= 128},
    )
    return fig


def head_diff_grid(diff: AttentionDiff) -> go.Figure:
    """Layers × heads: mean |B − A| over aligned cells — which heads changed the most."""
    summary = diff.head_summary()
    L, H = diff.a.shape[:2]
    z = summary["mean_abs_diff"].to_numpy(dtype=np.float32).reshape(L, H)
    peak = summary["max_abs_diff"].to_numpy(dtype=np.float32).reshape(L, H)
    heads = [f"head {h}" for h in range(H)] if diff.per_head else ["mean over heads"]
    fig = go.Figure(go.Heatmap(
        z=z, x=heads, y=[_esc(lab) for lab in diff.layer_labels], customdata=peak, colorscale="Viridis", zmin=0,
        colorbar={"title": {"text": "mean |B − A|"}},
        hovertemplate="%{y} · %{x}<br>mean |B − A|: %{z:.4f}<br>max |B − A|: %{customdata:.4f}<extra></extra>",
    ))
    fig.update_layout(title={"text": "Which heads changed: mean |B − A| over aligned cells" + _subtitle(diff.note)},
                      height=int(min(700, max(260, 34 * L + 150))), margin=_MARGIN,
                      xaxis={"type": "category", "side": "top"},
                      yaxis={"type": "category", "autorange": "reversed"})
    return fig


def attribution_diff_heatmap(diff: AttributionDiff) -> go.Figure:
    """Methods × aligned positions: B − A, each row divided by its own max |B − A| (raw values in the hover)."""
    d = diff.diff.astype(np.float64)
    finite = np.isfinite(d)
    peak = np.where(finite, np.abs(d), 0.0).max(axis=1, keepdims=True)
    rel = np.full_like(d, np.nan)
    np.divide(d, peak, out=rel, where=finite & (peak > 0))
    rel[finite & (peak == 0)] = 0.0
    labels = axis_labels(diff.labels)
    n = len(labels)
    custom = np.stack([diff.a, diff.b, diff.diff], axis=-1).astype(np.float32)
    fig = go.Figure(go.Heatmap(
        z=rel.astype(np.float32), x=np.arange(n), y=[_esc(method_title(m)) for m in diff.methods], text=[labels] * len(diff.methods),
        customdata=custom, colorscale=DIVERGING, zmin=-1.0, zmax=1.0, zmid=0.0, xgap=1, ygap=2, hoverongaps=False,
        colorbar={"title": {"text": "(B − A) / max"}},
        hovertemplate="%{text}<br>method: %{y}<br>A: %{customdata[0]:.4g}<br>B: %{customdata[1]:.4g}"
                      "<br>B − A: %{customdata[2]:.4g}<extra></extra>",
    ))
    fig.update_layout(
        title={"text": f"Attribution B − A per method ({diff.scale})" + _subtitle(diff.note)},
        height=int(170 + 48 * max(1, len(diff.methods))), margin=_MARGIN, plot_bgcolor="#eeeeee",
        xaxis={"tickmode": "array", "tickvals": list(range(n)), "ticktext": labels, "tickangle": -60,
               "showticklabels": n <= 128, "showgrid": False, "zeroline": False},
        yaxis={"type": "category", "autorange": "reversed"},
    )
    return fig


def attribution_diff_bars(diff: AttributionDiff, method: str) -> go.Figure:
    """One method: A's and B's scores side by side on the aligned positions (gaps: one side only)."""
    if method not in diff.methods:
        raise ValueError(f"{method!r} is not in this comparison")
    m = diff.methods.index(method)
    labels = axis_labels(diff.labels)
    x = np.arange(len(labels))
    fig = go.Figure([
        go.Bar(x=x, y=diff.a[m], name=_esc(diff.name_a), marker_color=A_COLOR, text=labels, textposition="none",
               hovertemplate="%{text}<br>A: %{y:.4g}<extra></extra>"),
        go.Bar(x=x, y=diff.b[m], name=_esc(diff.name_b), marker_color=B_COLOR, text=labels, textposition="none",
               hovertemplate="%{text}<br>B: %{y:.4g}<extra></extra>"),
    ])
    fig.update_layout(
        barmode="group", title={"text": f"{_esc(method_title(method))}: A and B ({diff.scale})" + _subtitle(diff.note)},
        height=380, margin=_MARGIN, legend={"orientation": "h", "y": -0.25},
        xaxis={"tickmode": "array", "tickvals": list(x), "ticktext": labels, "tickangle": -60,
               "showticklabels": len(labels) <= 128},
        yaxis={"title": {"text": "score"}},
    )
    return fig
