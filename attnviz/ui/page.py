"""The page scaffold and the app's entry hooks.

A page declares its title, caption and shareable settings (with their defaults) in one call and gets the
model handle back::

    handle = ui.page("attention", title="Attention", caption="Who attends to whom …",
                     params=lambda handle: [StateParam.integer("layer", "attention_layer", 0,
                                                               handle.num_layers - 1, default=0)])

and is then only layout: widgets keyed by the params' keys, results, figures.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

import attnviz
from attnviz.attribution.shap_method import warm_up_in_background
from attnviz.errors import AttnvizError
from attnviz.models.loading import TRUST_REMOTE_CODE_ENV
from attnviz.runtime import keep_freed_memory
from attnviz.sharing import StateParam

from .jobs import start_run
from .links import share_state
from .models import apply_operator_settings, current_model
from .room import room_sync
from .state import SHARED_TEXT_KEY
from .text import show_error

_ENTRY_KEY = "_attnviz_entry_ran"
_RUNS_KEY = "_attnviz_runs"

Params = Iterable[StateParam] | Callable[["attnviz.ModelHandle | None"], Iterable[StateParam]]


def mark_entrypoint() -> None:
    """Called by app.py on every run, before it runs the chosen page.

    It also numbers the session's runs in an empty, style-only element (``<style data-attnviz-run="N">``,
    which takes no space): browser automation can then tell that a run began after an action. The
    frontend's script-state attribute alone can't: on a busy machine React batches "running" and "not
    running" into one render, and the attribute never shows the run at all.
    """
    st.session_state[_ENTRY_KEY] = True
    runs = st.session_state[_RUNS_KEY] = st.session_state.get(_RUNS_KEY, 0) + 1
    st.html(f'<style data-attnviz-run="{runs}"></style>')


def ensure_entrypoint() -> None:
    """Pages call this first (``page`` does).

    On the very first request a fresh server receives, Streamlit still uses its legacy ``pages/``
    folder mode: a deep link (``/attribution``) then runs the page alone, without app.py's navigation
    and model picker. Switching the process to ``st.navigation`` mode (what app.py's first
    ``st.navigation`` call does) and rerunning lets app.py serve the same URL properly.
    """
    if not st.session_state.get(_ENTRY_KEY):
        PagesManager.uses_pages_directory = False
        st.rerun()


def apply_launch_flags(argv: list[str] | None = None) -> None:
    """`streamlit run app.py -- --trust-remote-code`: the operator's switch, read once at launch."""
    keep_freed_memory()  # reuse freed attention buffers instead of page-faulting fresh ones per request
    warm_up_in_background()  # shap's import + numba JIT (seconds) off the first SHAP click
    if "--trust-remote-code" in (sys.argv[1:] if argv is None else argv):
        os.environ[TRUST_REMOTE_CODE_ENV] = "1"
    apply_operator_settings()  # shared server (beyond localhost): closed model defaults; bad values stop here


def seed(params: Iterable[StateParam], keep: Iterable[str] | bool = ()) -> None:
    """Give every param's widget its default (``StateParam.default``; None = no default) unless it has a value.

    ``keep``: keys (or True: every param's key) whose value survives runs in which their widget is not drawn
    (Streamlit drops a widget's value when it is not drawn: a hidden presenter-mode control, a tab's
    radio drawn for one case only).
    """
    params = list(params)
    for p in params:
        if p.default is not None:
            st.session_state.setdefault(p.key, list(p.default) if isinstance(p.default, list) else p.default)
    kept = [p.key for p in params] if keep is True else list(keep or ())
    for key in kept:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def page(name: str, *, title: str, caption: str, params: Params = (), needs_model: bool = True,
         shared_text: str | None = None, keep: Iterable[str] | bool = (),
         images: bool = False) -> attnviz.ModelHandle | None:
    """Start a page: title, caption, the model, and its shareable settings, declared once.

    In order: app.py's entry check, ``st.title``/``st.caption``, the sidebar's model (the page stops
    after a message when it does not load), ``params`` (a list, or a function of the handle for ranges
    that depend on the model; an ``AttnvizError`` there stops the page with its message), each param's
    default seeded into session state (:func:`seed`), then :func:`share_state` (link in, URL and
    "Copy link" out, "Session file" in the sidebar).

    Args:
        name: the page's name in session files and widget keys (``"attention"``).
        title, caption: the page's heading and the one paragraph under it.
        params: the page's ``StateParam`` list (or ``handle -> list``). Defaults live there only.
        needs_model: False for a page that loads the sidebar's model only on demand (the Lab); the
            handle is then None and ``params`` is called with None.
        shared_text: the key of the page's main text box, which starts from the text the user last
            used on another page and passes this one on.
        keep: see :func:`seed`.
        images: True for the image views (attnviz.ui.images); any other page only says it needs a text model.

    Returns:
        The model handle (None when ``needs_model`` is False).

    Example:
        >>> handle = ui.page("generate", title="Generate", caption="…", params=lambda handle: [
        ...     StateParam.text("prompt", "generate_prompt", default="Once upon a time")])
    """
    ensure_entrypoint()
    start_run()  # a Cancel click in the heavy-job line cancels this run's heavy jobs
    st.title(title)
    st.caption(caption)
    handle = None
    if needs_model:
        handle = current_model()
        if handle is None:
            st.stop()
        if not images and getattr(handle, "modality", "text") != "text":  # image models have their own views
            st.info(f"{title} works on text models, and the sidebar's model reads images. Pick a text model "
                    "in the sidebar, or open the Attention or Attribution page for this one.")
            st.stop()
    try:
        declared = list(params(handle) if callable(params) else params)
    except AttnvizError as exc:
        show_error(exc)
        st.stop()
    if shared_text is not None and shared_text not in st.session_state and SHARED_TEXT_KEY in st.session_state:
        st.session_state[shared_text] = st.session_state[SHARED_TEXT_KEY]
    seed(declared, keep)
    room_sync(name, declared)  # classroom: the teacher publishes this view, a following student takes it
    share_state(name, declared)
    if shared_text is not None and shared_text in st.session_state:
        st.session_state[SHARED_TEXT_KEY] = st.session_state[shared_text]  # the same input follows the user
    return handle
