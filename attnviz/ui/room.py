"""The sidebar's classroom room: open a room (teacher) or join one (student), follow the teacher's view.

``ui.page`` calls :func:`room_sync` once per page run, after the page's settings are seeded and before its
widgets are drawn. For the teacher it publishes the page, its settings (the share-link parameters) and
the model; for a following student it applies them (switching page when needed). A small fragment in the
sidebar polls the room every ``POLL_SECONDS`` and reruns the student's page when the room changed.

A student who changes a setting while following has stepped away: the page says so and offers
"Back to the teacher". The room's rules (codes, the teacher's secret, expiry) live in
``attnviz.classroom.rooms``; the teacher's secret stays in the teacher's session state.
"""

from __future__ import annotations

import html

import streamlit as st

from attnviz.classroom.rooms import RoomError, Rooms, RoomState, View, query_of
from attnviz.errors import AttnvizError
from attnviz.sharing import StateParam, dump_state, parse_state

from .state import DEFAULT_KEY, MODEL_KEY, SESSION_PREFIX, current_model_key, presenter_mode
from .text import safe_message

POLL_SECONDS = 0.5
"""How often a student's page asks the room whether the teacher changed something. Each poll is a fragment
run: ~13 ms of server CPU with .streamlit/config.toml's ``runner.postScriptGC = false``; with
Streamlit's default (a full ``gc.collect()`` after every run, torch loaded) it was ~0.2 s each."""
TEACHER_POLL_SECONDS = 5.0
"""How often the teacher's sidebar refreshes the class's numbers (the teacher follows no one)."""
CODE_KEY = "attnviz_room_code"  # session_state: the room this session opened or joined
SECRET_KEY = "_attnviz_room_secret"  # session_state: the teacher's secret (only in the teacher's session)
MEMBER_KEY = "_attnviz_room_member"  # session_state: this student's member id in the room
FOLLOW_KEY = "attnviz_room_follow"  # session_state: a student follows the teacher
SEEN_KEY = "_attnviz_room_seen"  # session_state: the room version this student's page shows
_JOIN_INPUT = "attnviz_room_join_code"
_ERROR_KEY = "_attnviz_room_error"
EX_SEEN_KEY = "_attnviz_room_seen_exercise"  # session_state: (exercise, revealed) this student last saw


@st.cache_resource
def server_rooms() -> Rooms:
    """This server's rooms, kept by Streamlit's resource cache: one object for every session, which survives
    Streamlit reloading changed modules (a plain module global would be replaced, losing the open rooms)."""
    return Rooms()


_BIG_CODE = ("<div style='font-size:{size};font-weight:700;letter-spacing:0.12em;font-family:monospace'>"
             "{code}</div>")  # the code is from ALPHABET and '-' only: nothing to escape


def is_teacher() -> bool:
    return SECRET_KEY in st.session_state and CODE_KEY in st.session_state


def in_room() -> str | None:
    """The room code of this session (teacher or student), or None."""
    return st.session_state.get(CODE_KEY)


def room_state() -> RoomState | None:
    """The room now, or None (not in a room; a room that expired is left with a notice)."""
    code = in_room()
    if code is None:
        return None
    try:
        return server_rooms().get(code)
    except RoomError as exc:
        _leave()
        st.session_state[_ERROR_KEY] = str(exc)
        return None


def teacher_secret() -> tuple[str, str] | None:
    """(code, secret) when this session is the room's teacher."""
    return (st.session_state[CODE_KEY], st.session_state[SECRET_KEY]) if is_teacher() else None


def member_id() -> str | None:
    return st.session_state.get(MEMBER_KEY)


def _leave() -> None:
    for key in (CODE_KEY, SECRET_KEY, MEMBER_KEY, SEEN_KEY):
        st.session_state.pop(key, None)
    st.session_state[FOLLOW_KEY] = False


def _open() -> None:
    code, secret = server_rooms().open()
    _leave()
    st.session_state[CODE_KEY], st.session_state[SECRET_KEY] = code, secret


def _join() -> None:
    try:
        member, state = server_rooms().join(st.session_state.get(_JOIN_INPUT, ""))
    except RoomError as exc:
        st.session_state[_ERROR_KEY] = str(exc)
        return
    _leave()
    st.session_state[CODE_KEY], st.session_state[MEMBER_KEY] = state.code, member
    st.session_state[FOLLOW_KEY] = True


def _close() -> None:
    code_secret = teacher_secret()
    if code_secret is not None:
        try:
            server_rooms().close(*code_secret)
        except RoomError:
            pass
    _leave()


def _back_to_teacher() -> None:
    st.session_state[FOLLOW_KEY] = True
    st.session_state.pop(SEEN_KEY, None)


def _view_of(page: str, params: list[StateParam]) -> View:
    state = {p.key: st.session_state[p.key] for p in params if p.key in st.session_state}
    key = current_model_key()
    model = None if key == DEFAULT_KEY or key[0].startswith(SESSION_PREFIX) else key
    return View(page, query_of(dump_state(params, state)), model)


def _apply(view: View, params: list[StateParam]) -> None:
    """Set this session's widgets to the teacher's values (a setting absent from the view is its default)."""
    values, _ = parse_state(params, view.params)
    for p in params:
        if p.key in values:
            st.session_state[p.key] = values[p.key]
        elif p.default is not None:
            st.session_state[p.key] = list(p.default) if isinstance(p.default, list) else p.default


def room_sync(page: str, params: list[StateParam]) -> None:
    """Publish (teacher) or apply (following student) this page's view; draw the sidebar room widget."""
    state = room_state()
    code_secret = teacher_secret()
    if state is not None and code_secret is not None:
        try:
            server_rooms().publish(*code_secret, _view_of(page, params))
        except AttnvizError as exc:
            st.sidebar.warning(safe_message(str(exc)), icon="🏫")
    elif state is not None and state.view is not None and st.session_state.get(FOLLOW_KEY):
        view = state.view
        wanted_model = view.model or DEFAULT_KEY
        if st.session_state.get(SEEN_KEY) != state.version:  # the teacher changed something: follow
            if view.page != page:
                st.switch_page(f"pages/{view.page}.py")
            _apply(view, params)
            st.session_state[SEEN_KEY] = state.version
            if current_model_key() != wanted_model:
                st.session_state[MODEL_KEY] = wanted_model
                st.rerun()
        elif view.page != page or _view_of(page, params).params != view.params or (
                current_model_key() != wanted_model):
            st.session_state[FOLLOW_KEY] = False  # the student changed something: exploring on their own
    room_sidebar()


def room_sidebar() -> None:
    """The room box in the sidebar: open / join, the code in big type, follow, back to the teacher."""
    with st.sidebar:
        st.header("Classroom")
        error = st.session_state.pop(_ERROR_KEY, None)
        if error:
            st.warning(safe_message(error), icon="🏫")
        if in_room() is None:
            cols = st.columns([3, 2])
            cols[0].text_input("Room code", key=_JOIN_INPUT, placeholder="K7Q-2M", label_visibility="collapsed")
            cols[1].button("Join", on_click=_join, key="attnviz_room_join", width="stretch")
            st.button("Open a room (teacher)", on_click=_open, key="attnviz_room_open")
        else:
            every = TEACHER_POLL_SECONDS if is_teacher() else POLL_SECONDS
            st.fragment(_room_panel, run_every=every)()  # polls only while in a room


def _room_panel() -> None:
    state = room_state()
    if state is None:
        st.rerun(scope="app")
    size = "3.2rem" if presenter_mode() else "2.2rem"
    st.markdown(_BIG_CODE.format(size=size, code=html.escape(state.code)), unsafe_allow_html=True)
    if is_teacher():
        st.caption(f"You are the teacher. {state.members} student(s) joined: they see this page as you change it.")
        if st.button("Close the room", key="attnviz_room_close"):
            _close()
            st.rerun(scope="app")
        return
    exercise_now = (state.exercise, state.revealed)
    exercise_changed = st.session_state.get(EX_SEEN_KEY, (None, False)) != exercise_now
    st.session_state[EX_SEEN_KEY] = exercise_now
    if st.session_state.get(FOLLOW_KEY):
        st.caption("Following the teacher. Change anything to explore on your own.")
        if (state.version != st.session_state.get(SEEN_KEY) and state.view is not None) or exercise_changed:
            st.rerun(scope="app")
    elif exercise_changed:  # a student exploring alone still gets the teacher's question and the reveal
        st.rerun(scope="app")
    else:
        st.info("Exploring on your own.", icon="🧭")
        st.button("Back to the teacher", on_click=_back_to_teacher, type="primary", key="attnviz_room_back")
    if st.button("Leave the room", key="attnviz_room_leave"):
        _leave()
        st.rerun(scope="app")
