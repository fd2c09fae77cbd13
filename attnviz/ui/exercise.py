"""The "Predict, then reveal" panel of the Attention, Attribution and Lab pages (one call per page).

Students click a word as their guess; "Reveal" shows the answer (computed from the model by
:func:`attnviz.classroom.exercises.answer`), the distribution of guesses and the exercise's guidance.

* Alone (no room): pick an exercise, guess, reveal: a self-check.
* In a room, the teacher picks an exercise (a shipped one, or one made from the current view) and asks the
  class; students' guesses are gathered by the room and the teacher reveals the answer and the class's counts
  to everyone at once. A student sees the question the moment the room's poll notices it.

The exercise never loads its text into the page before the reveal (the page's own figures would give the
answer away); after it, "Show it on the page" does.
"""

from __future__ import annotations

import secrets

import streamlit as st

from attnviz.classroom.exercises import Exercise, ExerciseAnswer, answer, from_view, load_exercises
from attnviz.errors import AttnvizError, InputError
from attnviz.figures.classroom import guess_counts

from . import room
from .state import SHARED_TEXT_KEY, presenter_mode
from .text import md_text, safe_message, show_error

GUESS_POLL_SECONDS = 1.0
"""How often the teacher's panel recounts the class's guesses while an exercise is open."""
MINE_KEY = "_attnviz_exercises_mine"  # session_state: the teacher's own exercises (dicts), all pages
PAGE_KEYS = {
    "attention": {"text": "attention_page_text", "layer": "attention_layer", "head": "attention_head",
                  "view": "attention_view", "view_value": "Heatmap"},
    "attribution": {"text": "attribution_page_text"},
}
"""Where "Show it on the page" puts an exercise's text (and layer/head) on each page (the Lab has no slot)."""


def _local(page: str) -> dict:
    """This session's exercise state on ``page`` when not answering in a room: the exercise, round, guess."""
    return st.session_state.setdefault(f"_attnviz_exercise_{page}", {})


def _catalogue(page: str) -> list[Exercise]:
    mine = [Exercise.from_dict(d) for d in st.session_state.get(MINE_KEY, []) if d.get("page") == page]
    return [e for e in load_exercises() if e.page == page] + mine


@st.cache_data(max_entries=64, show_spinner=False)
def _cached_answer(model_key: tuple, spec: tuple, _handle) -> ExerciseAnswer:
    """An exercise's answer, cached by the model's key and the exercise (the handle itself is not hashed)."""
    return answer(Exercise.from_dict(dict(spec)), _handle)


def _answer(exercise: Exercise, handle) -> ExerciseAnswer:
    key = (handle.name, str(getattr(handle, "device", "")), str(getattr(handle, "dtype", "")))
    with st.spinner("Asking the model …"):
        return _cached_answer(key, tuple(sorted(exercise.to_dict().items())), handle)


def _show_on_page(page: str, exercise: Exercise) -> None:
    keys = PAGE_KEYS.get(page, {})
    if "text" in keys:
        st.session_state[keys["text"]] = exercise.text
        st.session_state[SHARED_TEXT_KEY] = exercise.text
    if "layer" in keys and exercise.layer is not None and exercise.head is not None:
        st.session_state[keys["layer"]], st.session_state[keys["head"]] = exercise.layer, exercise.head
        st.session_state[keys["view"]] = keys["view_value"]


def _question(exercise: Exercise) -> None:
    if presenter_mode():
        st.markdown(f"## {md_text(exercise.question)}")
        st.markdown(f"### “{md_text(exercise.text)}”")
    else:
        st.markdown(f"**{md_text(exercise.question)}**")
        st.markdown(f"> {md_text(exercise.text)}")


def _reveal(page: str, exercise: Exercise, ans: ExerciseAnswer, counts: dict, mine: str | None,
            key: str, teacher: bool) -> None:
    labels = ans.option_labels()
    right = labels[ans.answer]
    verdict = "" if mine is None else (" Your guess was right." if mine == right
                                       else f" You guessed {md_text(mine)}.")
    st.success(f"Answer: **{md_text(right)}** ({ans.scores[ans.answer]:.2f}) — {md_text(ans.detail)}.{verdict}",
               icon="🎯")
    total = sum(counts.values())
    st.plotly_chart(guess_counts(labels, counts, answer=right, large=presenter_mode(), only_chosen=len(labels) > 14,
                                 title=f"{total} guess(es), {counts.get(right, 0)} right"),
                    width="stretch", key=f"{key}_chart")
    if ans.special_mass > 0.05:
        st.caption(f"This head also puts {ans.special_mass:.0%} of the row on special tokens ([CLS], [SEP] …), "
                   "which are not options.")
    st.info(md_text(exercise.guidance), icon="💡")
    if page in PAGE_KEYS and (teacher or room.in_room() is None or not st.session_state.get(room.FOLLOW_KEY)):
        st.button("Show it on the page", key=f"{key}_show", on_click=_show_on_page, args=(page, exercise),
                  help="Loads the exercise's text (and its layer and head) into this page's view.")


def _options(ans: ExerciseAnswer, key: str, disabled: bool, on_change=None, args=()) -> str | None:
    return st.pills("Your guess: click a word", list(ans.option_labels()), key=key, disabled=disabled,
                    on_change=on_change, args=args)


# ------------------------------------------------------------------------------------------- alone
def _solo(page: str, handle, view: dict) -> None:
    catalogue = _catalogue(page)
    if not catalogue:
        st.caption("No exercises for this page yet.")
        return
    by_id = {e.id: e for e in catalogue}
    state = _local(page)
    cols = st.columns([3, 1])
    chosen = cols[0].selectbox("Exercise", list(by_id), key=f"attnviz_exercise_pick_{page}",
                               format_func=lambda i: by_id[i].title)
    if cols[1].button("Try it", key=f"attnviz_exercise_try_{page}", width="stretch") or not state:
        state.clear()
        state.update(id=chosen, round=secrets.token_hex(3), revealed=False)
    exercise = by_id.get(state.get("id"))
    if exercise is None:
        return
    ans = _answer_or_note(page, exercise, handle, view)
    if ans is None:
        return
    _question(exercise)
    key = f"attnviz_exercise_guess_{page}_{state['round']}"
    mine = _options(ans, key, disabled=state["revealed"])
    if not state["revealed"]:
        if st.button("Reveal", key=f"{key}_reveal", type="primary", disabled=mine is None,
                     help="Guess first: click a word above."):
            state["revealed"] = True
            st.rerun()
        return
    _reveal(page, exercise, ans, {mine: 1} if mine else {}, mine, key, teacher=False)


def _answer_or_note(page: str, exercise: Exercise, handle, view: dict) -> ExerciseAnswer | None:
    if page == "lab" and exercise.task and view.get("task") != exercise.task:
        st.info(f"This exercise needs a Lab model trained on the **{md_text(exercise.task)}** task: choose that "
                "task above and train it first.", icon="🧪")
        return None
    try:
        handle = handle() if callable(handle) else handle
        if handle is None:
            st.info("This exercise needs a text model." if page == "lab" else "Load a model first.")
            return None
        return _answer(exercise, handle)
    except InputError as exc:  # this model cannot answer this exercise (a Lab vocabulary, fewer heads): a note
        st.info(f"This exercise does not fit the model in use: {safe_message(exc)}", icon="ℹ️")
        return None
    except AttnvizError as exc:
        show_error(exc)
        return None


# ------------------------------------------------------------------------------------------- room
def _send_guess(code: str, round_id: str, key: str) -> None:
    option = st.session_state.get(key)
    if option is None:
        return
    try:
        room.server_rooms().guess(code, room.member_id() or "", round_id, option)
    except AttnvizError as exc:
        st.session_state[f"{key}_error"] = str(exc)


def _student(page: str, state, handle, view: dict) -> None:
    try:
        exercise = Exercise.from_dict(dict(state.exercise_spec or {}))
    except AttnvizError as exc:
        show_error(exc)
        return
    if exercise.page != page:
        st.info(f"The teacher's exercise is on the **{exercise.page.title()}** page.", icon="🏫")
        return
    ans = _answer_or_note(page, exercise, handle, view)
    if ans is None:
        return
    _question(exercise)
    key = f"attnviz_exercise_room_{state.exercise}"
    mine = _options(ans, key, disabled=state.revealed, on_change=_send_guess,
                    args=(state.code, state.exercise, key))
    error = st.session_state.pop(f"{key}_error", None)
    if error:
        st.warning(safe_message(error), icon="🏫")
    if not state.revealed:
        st.caption("Your guess goes to the room (you may change it until the teacher reveals the answer)."
                   if mine else "Click a word: the teacher reveals the answer and the class's guesses.")
        return
    _reveal(page, exercise, ans, dict(state.counts), mine, key, teacher=False)


def _ask(code: str, secret: str, exercise: Exercise) -> None:
    round_id = f"{exercise.id}-{secrets.token_hex(3)}"
    try:
        room.server_rooms().start_exercise(code, secret, round_id, exercise.to_dict())
    except AttnvizError as exc:
        st.session_state["_attnviz_exercise_error"] = str(exc)


def _room_call(method: str, code: str, secret: str) -> None:
    try:
        if method == "reveal":
            room.server_rooms().reveal(code, secret)
        else:
            room.server_rooms().start_exercise(code, secret, None)
    except AttnvizError as exc:
        st.session_state["_attnviz_exercise_error"] = str(exc)


def _guess_progress(exercise_id: str) -> None:
    """The teacher's "k of n guessed" line. A fragment polling the room: it counts while guesses come in,
    without rerunning the teacher's page."""
    state = room.room_state()
    if state is None or state.exercise != exercise_id or state.revealed:
        st.rerun(scope="app")  # the room changed under this panel (closed, ended, revealed elsewhere)
    st.caption(f"{sum(state.counts.values())} of {state.members} student(s) have guessed so far.")


def _teacher(page: str, state, handle, view: dict) -> None:
    code, secret = room.teacher_secret()
    error = st.session_state.pop("_attnviz_exercise_error", None)
    if error:
        st.warning(safe_message(error), icon="🏫")
    running = None
    if state.exercise is not None:
        try:
            running = Exercise.from_dict(dict(state.exercise_spec or {}))
        except AttnvizError:
            running = None
    if running is not None and running.page == page:
        ans = _answer_or_note(page, running, handle, view)
        _question(running)
        key = f"attnviz_exercise_room_{state.exercise}"
        if not state.revealed:
            st.fragment(_guess_progress, run_every=GUESS_POLL_SECONDS)(state.exercise)
            cols = st.columns(2)
            cols[0].button("Reveal the answer", key="attnviz_exercise_reveal", type="primary",
                           on_click=_room_call, args=("reveal", code, secret))
            cols[1].button("End the exercise", key="attnviz_exercise_end", on_click=_room_call,
                           args=("end", code, secret))
            return
        if ans is not None:
            _reveal(page, running, ans, dict(state.counts), None, key, teacher=True)
        st.button("End the exercise", key="attnviz_exercise_end", on_click=_room_call, args=("end", code, secret))
        return
    if running is not None:
        st.caption(f"An exercise is running on the {running.page.title()} page.")
    catalogue = _catalogue(page)
    if not catalogue:
        st.caption("No exercises for this page yet: add one from the current view below.")
    else:
        by_id = {e.id: e for e in catalogue}
        chosen = st.selectbox("Exercise", list(by_id), key=f"attnviz_exercise_pick_{page}",
                              format_func=lambda i: by_id[i].title)
        st.caption(md_text(by_id[chosen].question))
        st.button("Ask the class", key="attnviz_exercise_ask", type="primary", on_click=_ask,
                  args=(code, secret, by_id[chosen]))
    if not presenter_mode():
        _add_from_view(page, view)


# ------------------------------------------------------------------------------------------- authoring
def _default_question(page: str, view: dict) -> str:
    if page == "attention":
        return f"Layer {view.get('layer')}, head {view.get('head')}: which word does '…' attend to most?"
    if page == "attribution":
        return "Which word pushes the predicted label up the most?"
    return "Which token does the sharpest head attend to from '?'?"


def _add_from_view(page: str, view: dict) -> None:
    with st.popover("Add an exercise from this view", icon=":material/add:"):
        if page != "attribution":
            query = st.text_input("Word attended from", value="?" if page == "lab" else "",
                                  key=f"attnviz_exercise_new_query_{page}",
                                  help="Its first occurrence in the text is the query.")
        else:
            query = None
        question = st.text_input("Question", value=_default_question(page, view),
                                 key=f"attnviz_exercise_new_q_{page}")
        guidance = st.text_area("Guidance (shown with the answer)", key=f"attnviz_exercise_new_g_{page}")
        if st.button("Add", key=f"attnviz_exercise_new_add_{page}"):
            target = view.get("target")
            taken = tuple(e.get("id") for e in st.session_state.get(MINE_KEY, []))
            try:
                exercise = from_view(
                    page, view.get("text") or "", question, guidance, layer=view.get("layer"), head=view.get("head"),
                    query=query, method=view.get("method") or "integrated_gradients",
                    target=getattr(target, "kind", "") or "", labels=getattr(target, "labels", "") or "",
                    label=str(getattr(target, "label", "") or ""), task=view.get("task"), taken=taken)
            except AttnvizError as exc:
                show_error(exc)
                return
            st.session_state.setdefault(MINE_KEY, []).append(exercise.to_dict())
            st.session_state[f"attnviz_exercise_pick_{page}"] = exercise.id
            st.rerun()


# ------------------------------------------------------------------------------------------- the panel
def exercise_panel(page: str, handle, *, text: str = "", layer: int | None = None, head: int | None = None,
                   method: str | None = None, target=None, task: str | None = None) -> None:
    """The page's "Predict, then reveal" panel.

    Args:
        handle: the model that answers (or a function returning it, called only when an answer is needed).
        text, layer, head, method, target, task: the current view, which a teacher's "Add an exercise from
            this view" takes: the text, the layer and head shown (Attention), the first method and the target
            form's choice (Attribution), the task (Lab).
    """
    view = {"text": text, "layer": layer, "head": head, "method": method, "target": target, "task": task}
    state = room.room_state()
    active = state is not None and state.exercise is not None
    try:
        box = st.container(border=True) if active else st.expander("Predict, then reveal", icon=":material/quiz:")
        with box:
            if active:
                st.subheader("Predict, then reveal", divider="gray")
            if state is not None and room.is_teacher():
                _teacher(page, state, handle, view)
            elif state is not None and state.exercise is not None:
                _student(page, state, handle, view)
            else:
                _solo(page, handle, view)
    except AttnvizError as exc:  # a broken exercise file: say so, keep the page
        st.error(safe_message(exc), icon="⚠️")
