"""Heavy work on a shared server: wait in line for one of the operator's K slots, showing the place in line
("3rd in line") and a Cancel button. Light work (head switches, views of finished results) never calls
this, so it never waits.

Wrap a heavy call in one line::

    with ui.heavy_job("bias probe"):
        out = bias.measure(...)

Inside ``st.cache_data`` functions (``caches.py``) only a cache miss reaches the ``with``: a cached result
never waits. Nested cached calls belong *before* the ``with`` (a slot is never held while waiting for
another session's cache entry). A Cancel click stops the run (Streamlit's rerun); the run after it raises
:class:`JobCancelled` from every heavy job, which pages show like any ``AttnvizError``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Iterator

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from attnviz.jobs import JobCancelled, default_queue, ordinal
from attnviz.operator import MAX_JOBS_ENV, is_shared

CANCEL_REQUESTED = "_attnviz_job_cancel"  # session_state: Cancel was clicked (read by the next run)
CANCELLED_RUN = "_attnviz_job_cancelled_run"  # session_state: this run follows a Cancel click
_buttons = itertools.count()


def start_run() -> None:
    """Called by the page scaffold at the start of every run: a Cancel click cancels the next run only."""
    st.session_state[CANCELLED_RUN] = st.session_state.pop(CANCEL_REQUESTED, False)


def _request_cancel() -> None:
    st.session_state[CANCEL_REQUESTED] = True


def session_owner() -> str:
    """This browser session's id (the queue's owner): one heavy job at a time per session."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else f"thread-{threading.get_ident()}"


@contextlib.contextmanager
def _not_recorded() -> Iterator[None]:
    """Draw outside ``st.cache_data``'s element recording: the line display is not replayed on a cache hit,
    and its Cancel button is allowed inside a cached function."""
    try:
        from streamlit.runtime.caching.cached_message_replay import in_cached_function
    except ImportError:  # pragma: no cover - another Streamlit: draw as usual
        yield
        return
    token = in_cached_function.set(False)
    try:
        yield
    finally:
        in_cached_function.reset(token)


@contextlib.contextmanager
def heavy_job(kind: str, *, cancel: bool = True) -> Iterator[None]:
    """Hold one of the server's K heavy-job slots for the block (``ATTNVIZ_MAX_JOBS``), waiting in line first.

    ``cancel=False``: no Cancel button (a page with its own Stop, like the Lab's training, which any rerun
    already takes out of the line).

    Raises:
        JobCancelled: the user pressed Cancel (this run follows the click).
        JobRefused: this session's previous job (another run) did not end within the queue's wait.
    """
    if cancel and st.session_state.get(CANCELLED_RUN):
        raise JobCancelled(f"Cancelled: the {kind} did not run. Change an input or press a button to run it again.")
    if not is_shared() and not os.environ.get(MAX_JOBS_ENV, "").strip():
        yield  # one user on localhost with nothing set: the app behaves as it always did (no line)
        return
    box = None
    line = None

    def show_place(place: int) -> None:
        nonlocal box, line
        with _not_recorded():
            if box is None:
                box = st.empty()
                with box.container():
                    line = st.empty()
                    if cancel:
                        st.button("Cancel", key=f"_attnviz_cancel_{next(_buttons)}", on_click=_request_cancel,
                                  help="Leave the line: nothing runs for this input until you ask again.")
            line.info(f"The server is busy: your {kind} is **{ordinal(place)} in line** "
                      f"({default_queue().max_running} run at once).")

    try:
        with default_queue().admit(session_owner(), kind, on_wait=show_place):
            if box is not None:
                with _not_recorded():
                    box.empty()
                    box = None
            yield
    finally:
        if box is not None:  # left the line early (Cancel, an error): best effort, the run may be stopping
            with _not_recorded(), contextlib.suppress(Exception):
                box.empty()
