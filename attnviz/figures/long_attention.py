"""Views of long inputs (a LongAttentionResult): the model view from pooled tiles, a downsampled head
heatmap with a window for detail, and a text view (the document as flowing text, click a token to see
what it attends to).

Sizes stay bounded whatever the length: the model view is one PNG of ≤ 64 × 64 tiles per head, a heatmap
at most ``HEATMAP_SIDE``² values, the text view n tokens + n × k top keys of one layer/head.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from ..bounded import LongAttentionResult
from .attention import COLORSCALE, block_average, display_token, model_view

HEATMAP_SIDE = 512
"""Cells per side of a long head heatmap (each cell the max or mean of a block of weights)."""
POOLING = {"max": "largest weight in each block (sharp patterns stay visible)",
           "mean": "average weight of each block (each block's share)"}


def long_model_view(result: LongAttentionResult, *, how: str = "max", selected=None) -> go.Figure:
    """Every layer × head from the pooled tiles (``block`` × ``block`` tokens each) computed during the run."""
    tiles = result.pooled_max if how == "max" else result.pooled_mean
    n = len(result.tokens)
    return model_view(tiles.astype(np.float32), layers=result.layers, selected=selected,
                      title=f"{n:,} tokens in tiles of {result.block} × {result.block} ({how}) — "
                            "click a head to enlarge")


def long_heatmap(matrix: np.ndarray, *, first_row: int = 0, first_col: int = 0, how: str = "max",
                 title: str = "", side: int = HEATMAP_SIDE, shape: tuple[int, int] | None = None) -> go.Figure:
    """[q, k] weights (a head or a window of it) downsampled to ≤ side × side cells by ``how`` (see POOLING).

    Axes are token positions (the first token of each cell). ``shape``: ``matrix`` is already downsampled
    (``LongAttentionResult.pooled_window``) from a window of that many query × key tokens.
    """
    if shape is None:
        nq, nk = matrix.shape
        small = block_average(matrix, side, how)
    else:
        (nq, nk), small = shape, np.asarray(matrix, dtype=np.float32)
    rows = np.linspace(0, nq, small.shape[0] + 1).astype(int) + first_row
    cols = np.linspace(0, nk, small.shape[1] + 1).astype(int) + first_col
    fig = go.Figure(go.Heatmap(
        z=small, x=cols[:-1], y=rows[:-1], colorscale=COLORSCALE, zmin=0,
        zmax=float(max(small.max(initial=0.0), 1e-6)),
        hovertemplate=("query ≥ %{y}<br>key ≥ %{x}<br>" + how + ": %{z:.4f}<extra></extra>"),
        colorbar={"title": {"text": how}},
    ))
    fig.update_layout(
        title={"text": html.escape(title, quote=False)}, height=700, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"title": {"text": "key position (attended to)"}, "side": "top"},
        yaxis={"title": {"text": "query position (attending)"}, "autorange": "reversed"},
    )
    return fig


# ------------------------------------------------------------------ text view
def _spaced(token: str) -> str:
    """A token as running text: WordPiece '##' joins the previous word, '▁'/'Ġ' start a new one."""
    if token.startswith("##"):
        return token[2:]
    shown = display_token(token)
    if shown.startswith("▁"):
        return " " + shown[1:]
    return " " + shown


def text_view_html(tokens, top_keys: np.ndarray, top_weights: np.ndarray, *, rollout: np.ndarray | None = None,
                   label: str = "") -> str:
    """The document as flowing text, self-contained HTML/JS (no network).

    Click (or hover) a token: its ``top_keys[i]`` (weights ``top_weights[i]``) are highlighted; a search box
    jumps to the next token containing a word; "rollout" shades every token by ``rollout`` (e.g. the rollout
    readout). Tokens are HTML-escaped into the page; the script only reads them through ``textContent``,
    and the data block holds numbers only.
    """
    n = len(tokens)
    top_keys, top_weights = np.asarray(top_keys), np.asarray(top_weights, dtype=np.float32)
    if top_keys.shape[0] != n or top_weights.shape != top_keys.shape:
        raise ValueError("top_keys/top_weights must be [tokens, k]")
    spans = "".join(f'<span class="t" data-i="{i}">{html.escape(_spaced(tok), quote=False)}</span>'
                    for i, tok in enumerate(tokens))
    data = {"k": int(top_keys.shape[1]), "keys": top_keys.astype(int).ravel().tolist(),
            "weights": np.round(top_weights, 4).ravel().tolist(),
            "rollout": None if rollout is None else np.round(np.asarray(rollout, np.float64), 5).tolist()}
    parts = {"__LABEL__": html.escape(label, quote=False), "__TOKENS__": spans,
             "__DATA__": json.dumps(data, separators=(",", ":"))}
    return re.sub("__(LABEL|TOKENS|DATA)__", lambda m: parts[m.group(0)], _template())  # one pass: no re-scan


@cache
def _template() -> str:
    return Path(__file__).with_name("text_view.html").read_text(encoding="utf-8")
