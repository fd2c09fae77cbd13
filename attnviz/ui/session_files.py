"""Session files: "Save session" (this page's settings, the model and its results as JSON) and loading one
back into the widgets."""

from __future__ import annotations

import streamlit as st

from attnviz.errors import AttnvizError
from attnviz.session import SessionFile
from attnviz.sharing import StateParam, dump_state, parse_state

from .state import MODEL_KEY, NOTICE_KEY, current_model_key
from .text import rejected_message


def _params_key(page: str) -> str:
    return f"_attnviz_session_params_{page}"


def session_file_loader(page: str, params: list[StateParam]) -> None:
    """The sidebar's "Session file" box: an upload fills ``params``' widgets (``share_state`` draws it)."""
    with st.sidebar.expander("Session file"):
        st.file_uploader("Load a saved session (.json)", type=["json"], key=f"session_upload_{page}",
                         max_upload_size=20, on_change=_load_session_file, args=(page, params))
        st.session_state[_params_key(page)] = params


def _load_session_file(page: str, params) -> None:
    """Upload callback (runs before the page): validate the file, then fill the widgets and the model."""
    file = st.session_state.get(f"session_upload_{page}")
    if file is None:
        return
    try:
        session = SessionFile.from_json(file.getvalue())
        if session.page != page:
            raise AttnvizError(f"This session was saved on the {session.page!r} page; open that page and load "
                               "it there.")
    except AttnvizError as exc:
        st.session_state[NOTICE_KEY] = ("error", f"Could not load the session file: {exc}")
        return
    values, rejected = parse_state(params, session.state, in_file=True)
    for key, value in values.items():
        st.session_state[key] = value
    if session.model is not None:
        st.session_state[MODEL_KEY] = session.model
    text = f"Session loaded (saved {session.created or 'at an unknown time'}): inputs and settings restored."
    if rejected:
        text += " " + rejected_message("file", rejected)
    st.session_state[NOTICE_KEY] = ("warning" if rejected else "success", text)


def offer_session_file(page: str, results: dict | None = None) -> None:
    """A "Save session" download in the sidebar: this page's link settings (texts in full), the model and
    ``results`` (``{name: result}``, each with ``to_json()``) as an ``attnviz-session`` JSON file.

    Call it after the results exist, with the same ``page`` as ``share_state``. The file is built only when
    the button is clicked (large attention results cost nothing until then).
    """
    params = st.session_state.get(_params_key(page), [])
    state = dump_state(params, {p.key: st.session_state[p.key] for p in params if p.key in st.session_state},
                       in_file=True)
    model, results = current_model_key(), dict(results or {})

    def build() -> str:  # runs on click, outside the script run: only the values captured above
        return SessionFile.build(page, model, state, {n: r.to_json() for n, r in results.items()}).to_json()

    with st.sidebar:
        st.download_button("Save session (.json)", build, f"attnviz-{page}-session.json", "application/json",
                           on_click="ignore", key=f"session_save_{page}", icon=":material/download:",
                           help="Inputs, settings and results; load it back under 'Session file'.")
