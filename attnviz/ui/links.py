"""Shareable links: the model, presenter mode and each page's settings in the browser's URL, the sidebar's
"Copy link" box, and seeding widgets from the link a session was opened with (rules in ``attnviz.sharing``)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import streamlit as st

from attnviz.sharing import (
    MODEL_PARAMS,
    RESERVED,
    StateParam,
    dump_model,
    dump_state,
    parse_model,
    parse_state,
)

from .models import model_sidebar
from .session_files import session_file_loader
from .state import (
    DEFAULT_KEY,
    MODEL_KEY,
    NOTICE_KEY,
    PRESENTER_KEY,
    SESSION_PREFIX,
    current_model_key,
    presenter_mode,
)
from .text import rejected_message

_FIRST_QUERY_KEY = "_attnviz_first_query"  # session_state: the link this session was opened with
_PAGE_SEEDED_KEY = "_attnviz_page_seeded"  # session_state: True once a page took its settings from the link
_LINK_SLOT_KEY = "_attnviz_link_slot"  # session_state: this run's sidebar placeholder for the link
_PRESENTER_CSS = """<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stCaptionContainer"], label, button, input, textarea { font-size: 1.15rem !important; }
h1 { font-size: 2.6rem !important; }
[data-testid="stToolbar"], [data-testid="stDecoration"] { display: none; }
.block-container { padding-top: 2rem; max-width: 100%; }
</style>"""  # fixed text: no user input ever goes into it


def _query_snapshot() -> dict[str, list[str]]:
    return {name: st.query_params.get_all(name) for name in st.query_params}


def _sync_query_params(wanted: dict[str, str | list[str]], keep_others: bool) -> None:
    """Make the browser's URL carry ``wanted`` (Streamlit's own ``embed`` parameters are left alone)."""
    if not keep_others:
        for name in list(st.query_params):
            if name not in wanted and name not in RESERVED:
                del st.query_params[name]
    for name, value in wanted.items():
        values = [value] if isinstance(value, str) else list(value)
        if st.query_params.get_all(name) != values:
            st.query_params[name] = value


def _app_params() -> dict[str, str | list[str]]:
    out = dict(dump_model(current_model_key(), DEFAULT_KEY))
    if presenter_mode():
        out["presenter"] = "1"
    return out


def _link_for(params: dict[str, str | list[str]]) -> str:
    """The full URL of this page with ``params`` (relative ``?…`` where the browser's URL is unknown)."""
    base = None
    try:
        base = st.context.url
    except Exception:  # noqa: BLE001 - no browser context (bare mode): fall back to a relative link
        base = None
    query = urlencode(params, doseq=True, quote_via=quote)
    return f"{base or ''}?{query}" if query else (base or "?")


def _draw_link(params: dict[str, str | list[str]], notes: list[str]) -> None:
    slot = st.session_state.get(_LINK_SLOT_KEY)
    target = slot.container() if slot is not None else st.sidebar.container()
    with target:
        st.markdown("**Copy link** — reopens this view (copy button at the box's right)")
        st.code(_link_for(params), language=None, wrap_lines=True)
        for note in notes:
            st.caption(note)


def app_sidebar() -> None:
    """app.py calls this before the page runs: the model and presenter mode from the link (once per
    session), the model picker, the presenter toggle and stylesheet, and the sidebar "Copy link" box
    (the model-only link until the page's ``share_state`` redraws it with the page's settings)."""
    if _FIRST_QUERY_KEY not in st.session_state:
        query = _query_snapshot()
        st.session_state[_FIRST_QUERY_KEY] = query
        model, rejected = parse_model(query, DEFAULT_KEY)
        if model is not None:
            st.session_state[MODEL_KEY] = model
        flag = query.get("presenter", [None])[-1]
        if flag in ("1", "0"):
            st.session_state[PRESENTER_KEY] = flag == "1"
        elif flag is not None:
            rejected.append("presenter")
        if rejected:
            st.session_state[NOTICE_KEY] = ("warning", rejected_message("link", rejected))
    model_sidebar()
    with st.sidebar:
        st.toggle("Presenter mode", key=PRESENTER_KEY,
                  help="Larger type and fewer controls, for projecting to a room. Carried in the link.")
        st.session_state[_LINK_SLOT_KEY] = st.empty()
    if presenter_mode():
        st.markdown(_PRESENTER_CSS, unsafe_allow_html=True)
    wanted = _app_params()
    for name in (*MODEL_PARAMS, "presenter"):
        if name not in wanted and name in st.query_params:
            del st.query_params[name]
    _sync_query_params(wanted, keep_others=True)
    _draw_link(wanted, [])


def share_state(page: str, params: list[StateParam]) -> None:
    """Make a page's settings shareable. ``ui.page`` calls it; call it yourself only on a page without the
    scaffold, once, near the top, before its widgets.

    On the session's first page run it fills the widgets' session-state keys from the link it was opened
    with (type- and range-checked: bad values are ignored with a notice); on every run it writes the
    current values of ``params`` (plus the model and presenter mode) to the browser's URL, shows the
    "Copy link" box in the sidebar, and offers "Load session" for files saved by ``offer_session_file``.
    Widgets must use the keys named in ``params`` and take their defaults from session state (``ui.seed``
    fills them from the params' defaults), not from a ``value=``/``default=`` argument (Streamlit logs a
    warning when both set a widget).

    Args:
        page: the page's name in session files (``"attention"``).
        params: ``attnviz.sharing.StateParam`` list, e.g.
            ``[StateParam.text("text", "attention_page_text"), StateParam.integer("layer", "attention_layer", 0, 5)]``.

    Example:
        >>> share_state("attention", [StateParam.integer("layer", "attention_layer", 0, handle.num_layers - 1)])
    """
    params = list(params)
    if not st.session_state.get(_PAGE_SEEDED_KEY):
        st.session_state[_PAGE_SEEDED_KEY] = True
        values, rejected = parse_state(params, st.session_state.get(_FIRST_QUERY_KEY, {}))
        for key, value in values.items():
            st.session_state[key] = value
        if rejected:
            st.warning(rejected_message("link", rejected), icon="🔗")
    message = st.session_state.pop(NOTICE_KEY, None)
    if message is not None:
        getattr(st, message[0])(message[1])
    state = {p.key: st.session_state[p.key] for p in params if p.key in st.session_state}
    wanted = {**_app_params(), **dump_state(params, state)}
    _sync_query_params(wanted, keep_others=False)
    notes = []
    too_long = [p.name for p in params if p.kind == "text" and isinstance(state.get(p.key), str)
                and len(state[p.key]) > p.max_chars]
    if too_long:
        notes.append(f"Too long for a link, left out: {', '.join(too_long)}. Save a session file instead.")
    if current_model_key()[0].startswith(SESSION_PREFIX):
        notes.append("This session's lab model is not in the link (the link opens the default model).")
    _draw_link(wanted, notes)
    session_file_loader(page, params)
