"""The "Predict, then reveal" panel through AppTest: alone (a self-check) and in a room of a teacher and two
students (their guesses counted, the reveal shown to everyone), presenter mode, the Lab and Attribution pages."""

from attnviz.classroom.exercises import answer, load_exercises
from attnviz.ui import PRESENTER_KEY
from tests.helpers import chart_specs, click, open_link, open_page

EXERCISES = {e.id: e for e in load_exercises()}


def guess_chart(at):
    """The guesses chart's bars: label → count."""
    spec = next(s for s in chart_specs(at) if any(t.get("type") == "bar" and "guess" in str(t.get("hovertemplate"))
                                                  for t in s["data"]))
    bar = spec["data"][0]
    return dict(zip(bar["x"], bar["y"])), spec


def pick(at, page: str, exercise: str):
    at.selectbox(key=f"attnviz_exercise_pick_{page}").set_value(exercise).run()
    return at


def test_alone_a_student_guesses_then_reveals_the_models_answer(default_handle):
    ex = EXERCISES["it_refers_to"]
    truth = answer(ex, default_handle)
    at = pick(open_page(), "attention", ex.id)
    at.button(key="attnviz_exercise_try_attention").click().run()
    assert any(ex.question in m.value for m in at.markdown)
    assert not at.success  # nothing revealed yet
    reveal = next(b for b in at.button if b.label == "Reveal")
    assert reveal.disabled  # guess first
    wrong = next(o for o in truth.option_labels() if o != truth.option_labels()[truth.answer])
    at.pills[0].set_value(wrong).run()
    at = click(at, "Reveal")
    assert not at.exception and not at.error, [e.value for e in at.error]
    right = truth.option_labels()[truth.answer]
    assert f"Answer: **{right}**" in at.success[0].value and f"You guessed {wrong}" in at.success[0].value
    counts, _ = guess_chart(at)
    assert counts[wrong] == 1 and counts[right + " ✓"] == 0
    assert any(ex.guidance[:40] in i.value for i in at.info)
    assert at.pills[0].disabled  # no changing the guess after the reveal
    at = click(at, "Show it on the page")  # only now does the page show the exercise's text and head
    assert at.session_state["attention_page_text"] == ex.text
    assert (at.session_state["attention_layer"], at.session_state["attention_head"]) == (ex.layer, ex.head)


def test_a_room_counts_the_class_guesses_and_reveals_to_everyone(default_handle):
    ex = EXERCISES["previous_token_head"]
    truth = answer(ex, default_handle)
    labels = truth.option_labels()
    right = labels[truth.answer]
    wrong = next(o for o in labels if o != right)

    teacher = open_link({"presenter": "1"})  # the projector
    assert teacher.session_state[PRESENTER_KEY]
    teacher.button(key="attnviz_room_open").click().run()
    code = teacher.session_state["attnviz_room_code"]
    students = []
    for _ in range(2):
        student = open_page()
        student.text_input(key="attnviz_room_join_code").set_value(code.lower())
        student.button(key="attnviz_room_join").click().run()
        students.append(student)

    pick(teacher, "attention", ex.id)
    teacher.session_state[PRESENTER_KEY] = True  # AppTest drops the sidebar toggle's value on reruns
    teacher.button(key="attnviz_exercise_ask").click().run()
    assert not teacher.exception and not teacher.error, [e.value for e in teacher.error]
    assert any(m.value.startswith("## ") and ex.question in m.value for m in teacher.markdown)  # presenter: big
    assert not teacher.pills  # the teacher does not guess
    for student, guess in zip(students, [right, wrong]):
        student.run()  # the room's poll would rerun the page
        assert any(ex.question in m.value for m in student.markdown)
        assert not any(m.value.startswith("## ") for m in student.markdown if ex.question in m.value)
        student.pills[0].set_value(guess).run()
    teacher.run()
    assert any("2 of 2 student(s) have guessed" in c.value for c in teacher.caption)

    teacher.session_state[PRESENTER_KEY] = True
    teacher.button(key="attnviz_exercise_reveal").click().run()
    counts, spec = guess_chart(teacher)
    expected = {(o + " ✓" if o == right else o): int(o in (right, wrong)) for o in labels}
    assert counts == expected
    assert spec["layout"]["font"]["size"] > 13  # presenter mode: big type
    for student, guess in zip(students, [right, wrong]):
        student.run()
        assert f"Answer: **{right}**" in student.success[0].value
        assert ("was right" in student.success[0].value) == (guess == right)
        assert guess_chart(student)[0] == counts
        assert student.pills[0].disabled
    teacher.button(key="attnviz_exercise_end").click().run()
    students[0].run()
    assert not students[0].success


def test_lab_exercise_asks_for_its_task_then_answers_from_the_lab_model():
    at = open_page("lab")
    pick(at, "lab", "induction_lookup")
    at.button(key="attnviz_exercise_try_lab").click().run()
    assert any("trained on the **induction** task" in i.value for i in at.info)
    pick(at, "lab", "recall_lookup").button(key="attnviz_exercise_try_lab").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.pills[0].options == ["c", "7", "a (2)", "2", "f", "9", "a (7)"]  # the text, less '|' and '?'
    at.pills[0].set_value("2").run()
    at = click(at, "Reveal")
    assert any("Answer:" in s.value and "most sharply" in s.value for s in at.success)


def test_attribution_exercise_reveals_the_top_word(default_handle):
    page, ex = "attribution", EXERCISES["rude_or_lovely"]
    truth = answer(ex, default_handle)
    at = open_link({"method": "saliency"}, page)  # one quick method: the page's default set is slow
    assert at.multiselect[0].value == ["saliency"]
    pick(at, page, ex.id).button(key=f"attnviz_exercise_try_{page}").click().run()
    at.pills[0].set_value(truth.option_labels()[0]).run()
    at = click(at, "Reveal")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert f"Answer: **{truth.option_labels()[truth.answer]}**" in at.success[0].value
    assert "Integrated Gradients" in at.success[0].value
