"""The example gallery: pick a shipped example (or a counterfactual pair), one click loads it into the
page's widgets. Examples live in ``assets/examples/gallery.json`` (``attnviz.examples``)."""

from __future__ import annotations

import streamlit as st

from attnviz.errors import AttnvizError
from attnviz.examples import load_comparisons, load_examples

from .state import SHARED_TEXT_KEY
from .text import show_error


def example_picker(page: str, text_key: str, pair_key: str | None = None, view_key: str | None = None,
                   views: list[str] | None = None) -> None:
    """The example gallery: pick an example, one click loads its text (and pair) into this page's widgets."""
    try:
        examples = load_examples()
    except AttnvizError as exc:
        show_error(exc)
        return
    by_id = {e.id: e for e in examples}
    with st.expander("Example gallery", icon=":material/auto_stories:"):
        ids = sorted(by_id, key=lambda i: (by_id[i].page != page, list(by_id).index(i)))
        chosen = st.selectbox("Example", ids, key=f"{page}_example", format_func=lambda i: by_id[i].title
                              + ("" if by_id[i].page == page else f"  ({by_id[i].page} page)"))
        example = by_id[chosen]
        st.caption(f"Look for: {example.look_for} — best on the **{example.page.title()}** page"
                   f" ({example.view}).")
        st.button("Load example", key=f"{page}_example_load", on_click=_load_example,
                  args=(example, text_key, pair_key, view_key, views or []))


def _load_example(example, text_key: str, pair_key: str | None, view_key: str | None, views: list[str]) -> None:
    st.session_state[text_key] = example.text
    st.session_state[SHARED_TEXT_KEY] = example.text  # the shared text follows to the other pages
    if pair_key is not None:
        st.session_state[pair_key] = example.pair or ""
    if view_key is not None and example.view in views:
        st.session_state[view_key] = example.view


def comparison_picker(page: str, key_a: str, key_b: str, view_key: str | None = None) -> None:
    """The example gallery's counterfactual pairs: one click fills text A and text B (and the tab)."""
    try:
        comparisons = load_comparisons()
    except AttnvizError as exc:
        show_error(exc)
        return
    if not comparisons:
        return
    by_id = {c.id: c for c in comparisons}
    with st.expander("Example gallery", icon=":material/auto_stories:"):
        chosen = st.selectbox("Example pair", list(by_id), key=f"{page}_example",
                              format_func=lambda i: by_id[i].title)
        pair = by_id[chosen]
        st.caption(f"Look for: {pair.look_for} — best in the **{pair.view}** tab.")
        st.button("Load example", key=f"{page}_example_load", on_click=_load_comparison,
                  args=(pair, key_a, key_b, view_key))


def _load_comparison(pair, key_a: str, key_b: str, view_key: str | None) -> None:
    st.session_state[key_a], st.session_state[key_b] = pair.a.text, pair.b.text
    if view_key is not None:
        st.session_state[view_key] = pair.view
