"""Bias-probe figures: pure functions from :mod:`attnviz.bias` results to plotly Figures.

Nothing here runs a model. Terms, groups, templates and sentences are untrusted text (they can be
uploaded) and are HTML-escaped before they reach plotly, which reads ``<b>``-like text as markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

__all__ = ["gap_distribution", "group_means", "heads_groups_heatmap", "identity_share", "pair_scores",
           "weat_associations", "weat_effects"]

PALETTE = qualitative.Plotly
FLAG_COLOR = "#d62728"
_MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}


def _esc(text) -> str:
    return html.escape(str(text), quote=False)


def _axis_colors(axes) -> dict:
    return {axis: PALETTE[i % len(PALETTE)] for i, axis in enumerate(dict.fromkeys(axes))}


# ------------------------------------------------------------ counterfactual
def group_means(result, *, value: str = "output", title: str | None = None) -> go.Figure:
    """Per-group mean of f (``value="output"``) or of f minus the template's axis mean
    (``value="deviation"``), with bootstrap intervals over templates; one colour per axis.

    Args:
        result: a :class:`attnviz.bias.CounterfactualResult`.
        value: "output" or "deviation".
    """
    if value not in ("output", "deviation"):
        raise ValueError("value must be 'output' or 'deviation'")
    g = result.groups
    mean, lo, hi = (("mean_output", "ci_low", "ci_high") if value == "output" else
                    ("mean_deviation", "deviation_ci_low", "deviation_ci_high"))
    colors = _axis_colors(g["axis"])
    fig = go.Figure()
    for axis, block in g.groupby("axis", sort=False):
        labels = [f"{_esc(axis)} · {_esc(group)}" for group in block["group"]]
        fig.add_trace(go.Scatter(
            x=block[mean], y=labels, mode="markers", name=_esc(axis), marker={"color": colors[axis], "size": 9},
            error_x={"type": "data", "symmetric": False, "array": block[hi] - block[mean],
                     "arrayminus": block[mean] - block[lo], "thickness": 1.5},
            customdata=np.stack([block[lo], block[hi], block["n"], [_esc(t) for t in block["terms"]]], axis=1),
            hovertemplate="%{y}<br>mean: %{x:.4f}<br>95% CI: %{customdata[0]:.4f} … %{customdata[1]:.4f}"
                          "<br>sentences: %{customdata[2]}<br>terms: %{customdata[3]}<extra></extra>",
        ))
    what = "f(x)" if value == "output" else "f(x) − template mean over the axis"
    if value == "deviation":
        fig.add_vline(x=0, line={"color": "#888", "dash": "dot"})
    fig.update_layout(
        title={"text": _esc(title or f"Mean {what} per group (bars: bootstrap 95% interval over templates)")},
        height=int(140 + 22 * len(g)), margin=_MARGIN, xaxis={"title": {"text": _esc(what)}},
        yaxis={"type": "category", "autorange": "reversed"}, legend={"title": {"text": "axis"}},
    )
    return fig


def gap_distribution(result, *, title: str = "Counterfactual gaps |f(x) − f(x′)| per swap") -> go.Figure:
    """One box (with every swap as a point) per axis; the flagged largest swaps in red."""
    s = result.swaps
    colors = _axis_colors(s["axis"])
    fig = go.Figure()
    for axis, block in s.groupby("axis", sort=False):
        hover = [f"{_esc(a)} → {_esc(b)}<br>{_esc(ta)}<br>{_esc(tb)}" for a, b, ta, tb in
                 zip(block["term_a"], block["term_b"], block["text_a"], block["text_b"])]
        fig.add_trace(go.Box(
            x=block["gap"], y=[_esc(axis)] * len(block), name=_esc(axis), orientation="h", boxpoints="all",
            jitter=0.4, pointpos=0, marker={"color": colors[axis], "size": 4, "opacity": 0.5},
            line={"color": colors[axis]}, text=hover, hovertemplate="%{text}<br>gap: %{x:.4f}<extra></extra>",
            showlegend=False,
        ))
    flagged = s[s["flagged"]]
    if len(flagged):
        fig.add_trace(go.Scatter(
            x=flagged["gap"], y=[_esc(a) for a in flagged["axis"]], mode="markers", name="largest gaps",
            marker={"color": FLAG_COLOR, "size": 10, "symbol": "diamond-open", "line": {"width": 2}},
            text=[f"{_esc(a)} → {_esc(b)}<br>{_esc(t)}" for a, b, t in
                  zip(flagged["term_a"], flagged["term_b"], flagged["template"])],
            hovertemplate="flagged: %{text}<br>gap: %{x:.4f}<extra></extra>",
        ))
    fig.update_layout(title={"text": _esc(title)}, height=int(160 + 60 * s["axis"].nunique()), margin=_MARGIN,
                      xaxis={"title": {"text": "|f(x) − f(x′)|"}, "rangemode": "tozero"},
                      yaxis={"type": "category", "autorange": "reversed"},
                      legend={"orientation": "h", "y": -0.15})
    return fig


def heads_groups_heatmap(result, axis: str, *, centred: bool = True, title: str | None = None) -> go.Figure:
    """Layers·heads × groups: attention mass on the identity term relative to uniform attention.

    ``centred`` (default) shows each head's deviation from its own mean over the groups (diverging
    colours: red = this group's terms get more of this head's attention than the other groups' do);
    otherwise mass ÷ uniform baseline (1 = what uniform attention would give).
    """
    matrix = result.head_group_matrix(axis, centred=centred)
    values = matrix.to_numpy(dtype=np.float64)
    groups = [_esc(g) for g in matrix.columns]
    heads = list(matrix.index)
    if centred:
        peak = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
        color = {"colorscale": "RdBu_r", "zmin": -peak, "zmax": peak, "zmid": 0.0}
        label = "mass ÷ uniform − head mean"
    else:
        color = {"colorscale": "Viridis", "zmin": 0.0}
        label = "mass ÷ uniform"
    fig = go.Figure(go.Heatmap(
        z=values.astype(np.float32), x=groups, y=heads, colorbar={"title": {"text": label}}, xgap=1, ygap=1,
        hovertemplate="%{y} · %{x}<br>" + label + ": %{z:.3f}<extra></extra>", **color,
    ))
    fig.update_layout(
        title={"text": _esc(title or f"Which heads attend to {axis} terms differently ({label})")},
        height=int(min(1400, max(320, 11 * len(heads) + 170))), margin={**_MARGIN, "t": 95},
        xaxis={"type": "category", "side": "top"},
        yaxis={"type": "category", "autorange": "reversed", "dtick": 1, "tickfont": {"size": 9}},
    )
    return fig


def identity_share(result, *, title: str = "How much the identity term gets, relative to a uniform share"
                   ) -> go.Figure:
    """Per group: attribution share ÷ uniform share and attention mass ÷ uniform (1 = no special focus)."""
    g = result.groups
    labels = [f"{_esc(a)} · {_esc(b)}" for a, b in zip(g["axis"], g["group"])]
    fig = go.Figure()
    if "attribution_ratio" in g:
        fig.add_trace(go.Bar(x=g["attribution_ratio"], y=labels, orientation="h", name="attribution share ÷ uniform",
                             hovertemplate="%{y}<br>attribution ÷ uniform: %{x:.3f}<extra></extra>"))
    if "attention_ratio" in g:
        fig.add_trace(go.Bar(x=g["attention_ratio"], y=labels, orientation="h",
                             name="attention mass ÷ uniform (mean over heads)",
                             hovertemplate="%{y}<br>attention ÷ uniform: %{x:.3f}<extra></extra>"))
    fig.add_vline(x=1, line={"color": "#888", "dash": "dot"})
    fig.update_layout(title={"text": _esc(title)}, barmode="group", height=int(160 + 26 * len(g)), margin=_MARGIN,
                      yaxis={"type": "category", "autorange": "reversed"}, legend={"orientation": "h", "y": -0.08})
    return fig


# ---------------------------------------------------------------------- WEAT
def weat_effects(results: Sequence, *, alpha: float = 0.01, title: str = "WEAT effect sizes") -> go.Figure:
    """Effect size d per test, labelled with its p-value; filled bars where p < ``alpha``.

    Dotted lines at ±0.2, ±0.5, ±0.8 (Cohen's small, medium, large).
    """
    names = [_esc(r.test or " / ".join(r.names)) for r in results]
    d = [r.effect_size for r in results]
    p = [r.p_value for r in results]
    colors = [PALETTE[0] if pv < alpha else "rgba(99,110,250,0.25)" for pv in p]
    text = [f"d = {dv:+.2f}, p = {pv:.2g}{'' if r.exact else ' (sampled)'}" for dv, pv, r in zip(d, p, results)]
    fig = go.Figure(go.Bar(x=d, y=names, orientation="h", marker={"color": colors, "line": {"color": PALETTE[0]}},
                           text=text, textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}<br>%{text}<extra></extra>"))
    for x in (-0.8, -0.5, -0.2, 0.2, 0.5, 0.8):
        fig.add_vline(x=x, line={"color": "#bbb", "dash": "dot", "width": 1})
    fig.add_vline(x=0, line={"color": "#444", "width": 1})
    fig.update_layout(title={"text": _esc(title) + f" (filled: p < {alpha:g})"}, height=int(140 + 50 * len(results)),
                      margin={**_MARGIN, "r": 120}, xaxis={"title": {"text": "effect size d"}, "range": [-2.2, 2.2]},
                      yaxis={"type": "category", "autorange": "reversed"})
    return fig


def weat_associations(result, *, title: str | None = None) -> go.Figure:
    """s(w, A, B) of every target word (or sentence) of X and Y, one row each, means marked."""
    frame = result.associations()
    fig = go.Figure()
    for i, (name, block) in enumerate(frame.groupby("set", sort=False)):
        fig.add_trace(go.Box(
            x=block["association"], y=[_esc(name)] * len(block), name=_esc(name), orientation="h",
            boxpoints="all", pointpos=0, jitter=0.3, boxmean=True, marker={"color": PALETTE[i % len(PALETTE)]},
            text=[_esc(u) for u in block["unit"]], hovertemplate="%{text}<br>s(w, A, B): %{x:.4f}<extra></extra>",
        ))
    a, b = _esc(result.names[2]), _esc(result.names[3])
    fig.add_vline(x=0, line={"color": "#888", "dash": "dot"})
    fig.update_layout(
        title={"text": title or f"Association of each target with {a} (right) vs {b} (left)"},
        height=300, margin=_MARGIN, showlegend=False, yaxis={"type": "category", "autorange": "reversed"},
        xaxis={"title": {"text": f"s(w) = mean cos(w, {a}) − mean cos(w, {b})"}},
    )
    return fig


# --------------------------------------------------------------------- pairs
def pair_scores(result, *, title: str | None = None) -> go.Figure:
    """Score of sent_more against score of sent_less per pair; points above the diagonal prefer sent_more."""
    t = result.pairs
    fig = go.Figure()
    for i, (kind, block) in enumerate(t.groupby("bias_type", sort=False)):
        fig.add_trace(go.Scatter(
            x=block["score_less"], y=block["score_more"], mode="markers", name=_esc(kind),
            marker={"size": 9, "color": PALETTE[i % len(PALETTE)]},
            text=[f"more: {_esc(m)}<br>less: {_esc(s)}" for m, s in zip(block["sent_more"], block["sent_less"])],
            hovertemplate="%{text}<br>score more: %{y:.3f}<br>score less: %{x:.3f}<extra></extra>",
        ))
    both = pd.concat([t["score_more"], t["score_less"]])
    lo, hi = float(both.min()), float(both.max())
    pad = 0.05 * (hi - lo or 1.0)
    fig.add_trace(go.Scatter(x=[lo - pad, hi + pad], y=[lo - pad, hi + pad], mode="lines", name="equal",
                             line={"color": "#888", "dash": "dot"}, hoverinfo="skip"))
    label = "pseudo-log-likelihood" if result.scoring == "pll" else "joint log-likelihood"
    fig.update_layout(
        title={"text": _esc(title or f"Sentence pairs: {result.metric:.0f}% prefer the more stereotyping "
                                      "sentence (50% = no preference)")},
        height=480, margin=_MARGIN, xaxis={"title": {"text": f"{label} of sent_less"}},
        yaxis={"title": {"text": f"{label} of sent_more"}}, legend={"title": {"text": "bias type"}},
    )
    return fig
