"""Audit figures: pure functions from the aggregate DataFrames (:mod:`attnviz.audit.aggregate`) to plain
plotly Figures, so the same figures show in the page, the HTML report, PNG/SVG files and Jupyter.

Words, labels and slice values come from user data: they are HTML-escaped before they reach plotly
(which reads ``<b>``-like text as markup).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

__all__ = ["agreement_box", "bias_gaps", "confusion_heatmap", "faithfulness_box", "head_pattern_map", "head_statistic_map",
           "output_histogram", "slice_bars", "top_tokens_bars"]

PALETTE = qualitative.Plotly
BASELINE_COLOR = "#7f7f7f"
PATTERN_COLORS = {"special tokens": "#636efa", "previous token": "#ef553b", "next token": "#ff7f0e",
                  "self": "#ab63fa", "punctuation": "#19d3f3", "broad": "#00cc96", "mixed": "#d9d9d9"}
_MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}


def _esc(text) -> str:
    return html.escape(str(text), quote=False)


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=_esc(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, height=240, margin=_MARGIN)
    return fig


def head_pattern_map(summary: pd.DataFrame, *, title: str = "Head patterns over the dataset") -> go.Figure:
    """Layers × heads, coloured by the pattern of each head's mean statistics; the cell text is the share
    of examples in which the head shows that pattern (its consistency)."""
    if summary.empty:
        return _empty(title, "No examples")
    patterns = [p for p in PATTERN_COLORS if p in set(summary["pattern"])]
    code = {p: i for i, p in enumerate(patterns)}
    L, H = int(summary["layer"].max()) + 1, int(summary["head"].max()) + 1
    z = np.full((L, H), np.nan)
    text = np.full((L, H), "", dtype=object)
    hover = np.full((L, H), "", dtype=object)
    for row in summary.itertuples():
        z[row.layer, row.head] = code[row.pattern]
        text[row.layer, row.head] = f"{row.consistency:.0%}"
        hover[row.layer, row.head] = (f"layer {row.layer} · head {row.head}<br>{row.pattern} "
                                      f"({row.consistency:.0%} of examples)<br>to [CLS] {row.to_cls:.2f} · "
                                      f"to [SEP] {row.to_sep:.2f}<br>previous {row.to_prev:.2f} · next "
                                      f"{row.to_next:.2f}<br>entropy / ln n {row.entropy_norm:.2f}")
    k = max(1, len(patterns))
    colorscale = []
    for i, p in enumerate(patterns):
        colorscale += [[i / k, PATTERN_COLORS[p]], [(i + 1) / k, PATTERN_COLORS[p]]]
    if len(patterns) == 1:
        colorscale = [[0, PATTERN_COLORS[patterns[0]]], [1, PATTERN_COLORS[patterns[0]]]]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(H)), y=list(range(L)), text=text, texttemplate="%{text}", customdata=hover,
        hovertemplate="%{customdata}<extra></extra>", colorscale=colorscale, zmin=-0.5, zmax=k - 0.5,
        colorbar={"tickvals": list(range(k)), "ticktext": patterns, "title": {"text": "pattern"}}, xgap=1, ygap=1))
    fig.update_layout(title=title, xaxis={"title": "head", "dtick": 1}, yaxis={"title": "layer", "dtick": 1,
                                                                               "autorange": "reversed"},
                      height=120 + 40 * L, margin=_MARGIN)
    return fig


def head_statistic_map(summary: pd.DataFrame, column: str, *, title: str | None = None,
                       colorscale: str = "Viridis") -> go.Figure:
    """Layers × heads heatmap of one averaged statistic (e.g. ``to_cls``, ``entropy_norm``), or of
    ``special`` = to_cls + to_sep."""
    title = title or f"Mean {column} per head"
    if summary.empty:
        return _empty(title, "No examples")
    values = summary["to_cls"] + summary["to_sep"] if column == "special" else summary[column]
    L, H = int(summary["layer"].max()) + 1, int(summary["head"].max()) + 1
    z = np.full((L, H), np.nan)
    z[summary["layer"].to_numpy(), summary["head"].to_numpy()] = values.to_numpy()
    fig = go.Figure(go.Heatmap(z=z, x=list(range(H)), y=list(range(L)), colorscale=colorscale,
                               texttemplate="%{z:.2f}", hovertemplate="layer %{y} · head %{x}: %{z:.3f}<extra></extra>",
                               colorbar={"title": {"text": _esc(column)}}, xgap=1, ygap=1))
    fig.update_layout(title=title, xaxis={"title": "head", "dtick": 1},
                      yaxis={"title": "layer", "dtick": 1, "autorange": "reversed"}, height=120 + 40 * L,
                      margin=_MARGIN)
    return fig


def top_tokens_bars(df: pd.DataFrame, *, method: str = "", title: str | None = None) -> go.Figure:
    """One panel per predicted class: its most attributed words (mean score, count in the hover)."""
    title = title or f"Most attributed words per predicted class{' — ' + _esc(method) if method else ''}"
    if df.empty:
        return _empty(title, "No attributions")
    classes = list(dict.fromkeys(df["predicted"]))
    fig = make_subplots(rows=1, cols=len(classes), subplot_titles=[_esc(c) for c in classes],
                        horizontal_spacing=0.12)
    for i, cls in enumerate(classes):
        part = df[df["predicted"] == cls].sort_values("rank", ascending=False)
        fig.add_trace(go.Bar(x=part["mean_score"], y=[_esc(w) for w in part["word"]], orientation="h",
                             marker_color=PALETTE[i % len(PALETTE)], name=_esc(cls), showlegend=False,
                             customdata=part["count"],
                             hovertemplate="%{y}: mean %{x:.3f} over %{customdata} occurrence(s)<extra></extra>"),
                      row=1, col=i + 1)
        fig.update_xaxes(title_text="mean score", row=1, col=i + 1)
    fig.update_layout(title=title, height=140 + 24 * int(df.groupby("predicted").size().max()), margin=_MARGIN)
    return fig


def agreement_box(df: pd.DataFrame, *, metric: str = "spearman", title: str | None = None) -> go.Figure:
    """Distribution over examples of one agreement metric, one box per method pair."""
    title = title or f"Explainer agreement over examples ({metric} on |φ|)"
    if df.empty or metric not in df:
        return _empty(title, "Choose two or more methods to measure agreement")
    fig = go.Figure()
    for i, (pair, group) in enumerate(df.groupby("pair", sort=False)):
        fig.add_trace(go.Box(y=group[metric], name=_esc(pair), boxpoints="all", jitter=0.4, pointpos=0,
                             marker_color=PALETTE[i % len(PALETTE)], customdata=group["index"],
                             hovertemplate="example %{customdata}: %{y:.3f}<extra></extra>"))
    fig.update_layout(title=title, yaxis={"title": _esc(metric), "range": [-1.05, 1.05]}, showlegend=False,
                      height=380, margin=_MARGIN)
    return fig


def faithfulness_box(df: pd.DataFrame, *, title: str = "Faithfulness over examples (grey: random ranking)"
                     ) -> go.Figure:
    """Comprehensiveness (↑) and sufficiency (↓) AOPC per example, one box per method, random in grey."""
    if df.empty:
        return _empty(title, "Faithfulness was not measured")
    fig = make_subplots(rows=1, cols=2, subplot_titles=["Comprehensiveness AOPC (higher is better)",
                                                        "Sufficiency AOPC (lower is better)"])
    methods = [m for m in dict.fromkeys(df["method"]) if m != "random"] + (["random"] if "random" in set(df["method"]) else [])
    for i, method in enumerate(methods):
        group = df[df["method"] == method]
        color = BASELINE_COLOR if method == "random" else PALETTE[i % len(PALETTE)]
        for col, metric in enumerate(("comprehensiveness", "sufficiency"), 1):
            fig.add_trace(go.Box(y=group[metric], name=_esc(method), marker_color=color, boxpoints="outliers",
                                 showlegend=False, customdata=group["index"],
                                 hovertemplate="example %{customdata}: %{y:.3f}<extra></extra>"), row=1, col=col)
    fig.update_layout(title=title, height=400, margin=_MARGIN)
    return fig


def binned_boxes(stats: pd.DataFrame, metrics: list[str], *, title: str, titles: list[str] | None = None,
                 order: list[str] | None = None, grey: str | None = None, yrange=None) -> go.Figure:
    """Box plots from precomputed quartiles and whiskers (a binned audit: no per-example points), one box per
    ``name`` and one panel per metric. ``stats``: name, metric, count, q1, median, q3, mean, lowerfence,
    upperfence."""
    if stats.empty:
        return _empty(title, "Nothing was measured")
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=titles or metrics)
    names = order or list(dict.fromkeys(stats["name"]))
    for col, metric in enumerate(metrics, 1):
        for i, name in enumerate(names):
            row = stats[(stats["name"] == name) & (stats["metric"] == metric)]
            if row.empty:
                continue
            r = row.iloc[0]
            fig.add_trace(go.Box(x=[_esc(name)], q1=[r["q1"]], median=[r["median"]], q3=[r["q3"]], mean=[r["mean"]],
                                 lowerfence=[r["lowerfence"]], upperfence=[r["upperfence"]], name=_esc(name),
                                 marker_color=BASELINE_COLOR if name == grey else PALETTE[i % len(PALETTE)],
                                 showlegend=False, hovertext=f"{int(r['count'])} examples"), row=1, col=col)
    fig.update_layout(title=title, height=400, margin=_MARGIN)
    if yrange is not None:
        fig.update_yaxes(range=yrange)
    return fig


def binned_output_histogram(histograms: dict, *, title: str = "Explained output f(x) by predicted label"
                            ) -> go.Figure:
    """:func:`output_histogram` from counts per bin: {predicted label: (edges, counts)}."""
    if not histograms:
        return _empty(title, "No examples")
    fig = go.Figure()
    for i, (label, (edges, counts)) in enumerate(histograms.items()):
        edges = np.asarray(edges, dtype=float)
        fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), name=_esc(label),
                             marker_color=PALETTE[i % len(PALETTE)], opacity=0.75))
    fig.update_layout(title=title, barmode="overlay", xaxis={"title": "f(x)"}, yaxis={"title": "examples"},
                      height=340, margin=_MARGIN)
    return fig


def confusion_heatmap(confusion: pd.DataFrame, *, title: str = "Gold label × predicted label") -> go.Figure:
    if confusion is None or confusion.empty:
        return _empty(title, "No gold labels that match the model's labels")
    fig = go.Figure(go.Heatmap(z=confusion.to_numpy(), x=[_esc(c) for c in confusion.columns],
                               y=[_esc(i) for i in confusion.index], colorscale="Blues", texttemplate="%{z}",
                               hovertemplate="gold %{y} → predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(title=title, xaxis={"title": "predicted"}, yaxis={"title": "gold", "autorange": "reversed"},
                      height=320, margin=_MARGIN)
    return fig


def slice_bars(df: pd.DataFrame, column: str, *, title: str | None = None) -> go.Figure:
    """Per slice value: accuracy (where labels exist) or else the mean explained output, with the count."""
    metric = "accuracy" if "accuracy" in df and df["accuracy"].notna().any() else "mean_output"
    title = title or f"{'Accuracy' if metric == 'accuracy' else 'Mean f(x)'} by {_esc(column)}"
    if df.empty:
        return _empty(title, "No examples")
    fig = go.Figure(go.Bar(x=[_esc(v) for v in df[column]], y=df[metric], customdata=df["examples"],
                           text=[f"n={n}" for n in df["examples"]], textposition="outside",
                           marker_color=PALETTE[0],
                           hovertemplate="%{x}: %{y:.3f} (%{customdata} examples)<extra></extra>"))
    fig.update_layout(title=title, yaxis={"title": metric.replace("_", " "),
                                          "range": [0, 1.1] if metric == "accuracy" else None},
                      xaxis={"title": _esc(column), "type": "category"}, height=360, margin=_MARGIN)
    return fig


def output_histogram(results: pd.DataFrame, *, title: str = "Explained output f(x) by predicted label") -> go.Figure:
    """Histogram of f(x) (e.g. the predicted label's probability) per predicted label, from results.csv."""
    ok = results[results["status"] == "ok"] if "status" in results else results
    if ok.empty:
        return _empty(title, "No examples")
    fig = go.Figure()
    for i, (label, group) in enumerate(ok.groupby("predicted", sort=True)):
        fig.add_trace(go.Histogram(x=group["output"], name=_esc(label), marker_color=PALETTE[i % len(PALETTE)],
                                   opacity=0.75, nbinsx=20))
    fig.update_layout(title=title, barmode="overlay", xaxis={"title": "f(x)"}, yaxis={"title": "examples"},
                      height=340, margin=_MARGIN)
    return fig


def bias_gaps(axes: pd.DataFrame, *, title: str = "Counterfactual token fairness gap per identity axis") -> go.Figure:
    """CTF gap (mean |f(x) − f(x′)| over identity swaps) per axis with its bootstrap interval."""
    if axes.empty:
        return _empty(title, "No bias probe was run")
    fig = go.Figure(go.Bar(
        x=[_esc(a) for a in axes["axis"]], y=axes["ctf_gap"], marker_color=PALETTE[0],
        error_y={"type": "data", "symmetric": False, "array": axes["ci_high"] - axes["ctf_gap"],
                 "arrayminus": axes["ctf_gap"] - axes["ci_low"]},
        customdata=[_esc(s) for s in axes.get("largest_swap", [""] * len(axes))],
        hovertemplate="%{x}: %{y:.4f}<br>largest swap: %{customdata}<extra></extra>"))
    fig.update_layout(title=title, yaxis={"title": "CTF gap"}, xaxis={"title": "axis", "type": "category"},
                      height=340, margin=_MARGIN)
    return fig
