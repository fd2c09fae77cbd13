"""The Attention page for long inputs: a bounded-memory run (with progress) and its views.

Taken when full weights would not fit (:func:`attnviz.bounded.applies`): the model view from pooled
tiles, a head heatmap downsampled by max or mean with a window for detail, the text view, head
statistics. Full weights of one head are computed when a view needs them (a few tenths of a second).
"""

from __future__ import annotations

import time

import streamlit as st

from attnviz import bounded
from attnviz.attention import HEAD_STAT_COLUMNS, READOUTS
from attnviz.bounded import LongAttentionResult
from attnviz.figures import attention as figs
from attnviz.figures.long_attention import (
    HEATMAP_SIDE,
    POOLING,
    long_heatmap,
    long_model_view,
    text_view_html,
)

from .models import handle_for
from .session_files import offer_session_file
from .text import md_code

LONG_VIEWS = ["Model view", "Heatmap", "Text", "Head statistics"]
PROGRESS_AFTER_S = 1.0


@st.cache_resource(max_entries=2, show_spinner=False)
def _long_attention(model_key, text: str, text_pair: str | None, layers, _progress=None) -> LongAttentionResult:
    # cache_resource, not cache_data: the result keeps queries and keys (tensors) to fetch heads from
    return handle_for(model_key).attention(text, text_pair, layers=None if layers is None else list(layers),
                                           bounded=True, progress=_progress)


def long_attention(model_key, text: str, text_pair: str | None, layers) -> LongAttentionResult | None:
    """The bounded result when this input needs it (None: use the full path), with a progress bar after 1 s."""
    handle = handle_for(model_key)
    if not bounded.applies(handle, text, text_pair, layers=None if layers is None else list(layers)):
        return None
    started, bar = time.monotonic(), None

    def progress(fraction: float, what: str) -> None:
        nonlocal bar
        if bar is None and time.monotonic() - started > PROGRESS_AFTER_S:
            bar = st.progress(0.0)
        if bar is not None:
            bar.progress(fraction, text=f"Reading attention ({what}, {fraction:.0%})")

    result = _long_attention(model_key, text, text_pair, layers, _progress=progress)
    if bar is not None:
        bar.empty()
    return result


def _select_head():
    points = st.session_state["attention_long_model_view"].selection.points
    if points:
        layer_pos, head, _ = points[0]["customdata"]
        st.session_state["attention_layer"], st.session_state["attention_head"] = int(layer_pos), int(head)


def show_long_attention(handle, result: LongAttentionResult) -> None:
    """All views of a long result (the page calls this and stops)."""
    n = len(result.tokens)
    if result.truncated:
        st.warning(f"The input has {result.n_input_tokens:,} tokens; {md_code(handle.name)} reads at most {n:,}. "
                   f"Only the first {n:,} tokens are shown.", icon="✂️")
    st.info(f"{n:,} tokens: attention is summarised while the model runs (memory does not grow with "
            f"layers × heads × tokens²); a head's full weights are computed when a view needs them.", icon="📏")
    view = st.segmented_control("View", LONG_VIEWS, key="attention_long_view") or "Model view"
    controls = st.columns([1, 1, 1.6])
    layer_pos = controls[0].selectbox("Layer", range(result.num_layers), key="attention_layer",
                                      format_func=lambda i: str(result.layers[i]))
    head = controls[1].selectbox("Head", range(result.num_heads), key="attention_head")
    how = controls[2].radio("Downsampling", list(POOLING), horizontal=True, key="attention_pooling",
                            help=" · ".join(f"{k}: {v}" for k, v in POOLING.items()))
    layer = result.layers[layer_pos]
    if view == "Model view":
        st.plotly_chart(long_model_view(result, how=how, selected=(layer_pos, head)), width="stretch",
                        config={"displaylogo": False}, key="attention_long_model_view", on_select=_select_head,
                        selection_mode="points")
    elif view == "Heatmap":
        first, last = st.slider("Query rows (zoom: a narrower window shows more detail)", 0, n - 1, (0, n - 1),
                                key="attention_long_rows")
        keys = st.toggle("Only keys up to the last row shown", value=result.causal, key="attention_long_keys")
        cols = slice(0, last + 1) if keys else slice(None)
        small = result.pooled_window(layer, head, slice(first, last + 1), cols, side=HEATMAP_SIDE, how=how)
        shape = (last + 1 - first, len(range(n)[cols]))
        st.plotly_chart(long_heatmap(small, first_row=first, how=how, shape=shape,
                                     title=f"Layer {layer} · head {head} — tokens {first}–{last} ({how})"),
                        width="stretch")
    elif view == "Text":
        source = st.selectbox("Highlight what it attends to in", ["mean over heads", "the chosen head"],
                              key="attention_long_source")
        keys, weights = result.head_top_keys(layer, head if source == "the chosen head" else None)
        rollout = result.rollout_scores
        st.caption("Click a token: its most attended tokens light up (click again to release). "
                   f"Rollout shades each token by {READOUTS[result.readout]}.")
        label = f"layer {layer} · " + (f"head {head}" if source == "the chosen head" else "mean over heads")
        st.iframe(text_view_html(result.tokens, keys, weights, rollout=rollout, label=label), height=620)
    else:
        stats = result.head_statistics()
        column = st.selectbox("Statistic", list(HEAD_STAT_COLUMNS), key="attention_stat",
                              format_func=lambda c: f"{c} — {HEAD_STAT_COLUMNS[c]}")
        st.plotly_chart(figs.head_statistics_heatmap(stats, column), width="stretch")
        st.dataframe(stats, hide_index=True, width="stretch")
    # the summaries (tiles, statistics, top keys, rollout) travel in the file; full weights are recomputed
    offer_session_file("attention", {"attention": result})
