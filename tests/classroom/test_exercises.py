"""Predict-then-reveal exercises: shipped records, answers checked against independent computations, the
room carrying an exercise, and the guesses chart."""

import json

import numpy as np
import pytest

from attnviz.classroom.exercises import (
    EXERCISES,
    Exercise,
    ExerciseAnswer,
    answer,
    from_view,
    load_exercises,
)
from attnviz.classroom.rooms import MAX_PARAM_CHARS, RoomError, Rooms
from attnviz.errors import InputError
from attnviz.figures.classroom import ANSWER_COLOUR, guess_counts
from attnviz.models.encoding import SPECIAL_KINDS
from attnviz.models.loading import default_model_path
from tests.helpers import eager_attentions

DOG = "The dog chased the ball until it rolled under the fence."


def test_shipped_exercises_load_and_cover_every_page():
    exercises = load_exercises()
    assert {e.page for e in exercises} == {"attention", "attribution", "lab"}
    assert len({e.id for e in exercises}) == len(exercises)
    raw = json.loads(EXERCISES.read_text())["exercises"]
    assert not any("answer" in item for item in raw)  # answers are computed, never stored
    for e in exercises:
        assert Exercise.from_dict(e.to_dict()) == e


@pytest.mark.parametrize("bad, message", [
    ({"id": "Bad Id"}, "id"),
    ({"page": "generate"}, "page"),
    ({"query": None}, "word attended from"),
    ({"head": None}, "layer and a head"),
    ({"layer": -1}, "whole number"),
    ({"question": " "}, "question"),
])
def test_bad_exercises_are_refused(bad, message):
    good = dict(id="x", title="t", page="attention", text=DOG, question="q?", guidance="g", layer=0, head=0,
                query="it")
    with pytest.raises(InputError, match=message):
        Exercise(**{**good, **bad})
    with pytest.raises(InputError, match="unknown"):
        Exercise.from_dict({**good, "answer": "ball"})


def test_head_answer_is_the_eager_attention_argmax(default_handle, tokenizer):
    ex = next(e for e in load_exercises() if e.id == "it_refers_to")
    got = answer(ex, default_handle)
    # independent: the model's own eager attentions, special tokens found from the tokenizer's ids
    inputs = tokenizer(ex.text, return_tensors="pt")
    att = eager_attentions(default_model_path(), inputs)
    ids = inputs["input_ids"][0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(ids)
    q = tokens.index("it")
    words = [i for i, t in enumerate(ids) if t not in tokenizer.all_special_ids]
    row = att[ex.layer, ex.head, q]
    expected = words[int(np.argmax(row[words]))]
    assert got.positions[got.answer] == expected and got.answer_word == tokens[expected]
    np.testing.assert_allclose(got.scores, row[words], atol=1e-5)
    assert got.special_mass == pytest.approx(1 - row[words].sum(), abs=1e-5)
    assert got.options == tuple(tokens[i] for i in words)
    assert ExerciseAnswer.from_json(got.to_json()).answer == got.answer


def test_sharpest_head_answer_searches_every_layer_and_head(default_handle, tokenizer):
    ex = Exercise("sharp", "t", "lab", DOG, "q?", "g", query="it", task="induction")
    got = answer(ex, default_handle)
    inputs = tokenizer(ex.text, return_tensors="pt")
    att = eager_attentions(default_model_path(), inputs)
    ids = inputs["input_ids"][0].tolist()
    q = tokenizer.convert_ids_to_tokens(ids).index("it")
    words = [i for i, t in enumerate(ids) if t not in tokenizer.all_special_ids]
    peaks = att[:, :, q][:, :, words]
    layer, head, key = np.unravel_index(np.argmax(peaks), peaks.shape)
    assert got.positions[got.answer] == words[key]
    assert f"layer {layer} · head {head}" in got.detail


def test_attribution_answer_is_the_top_word(default_handle):
    ex = next(e for e in load_exercises() if e.id == "delightful_film")
    got = answer(ex, default_handle)
    reference = default_handle.attribute(ex.text, "integrated_gradients").to_words()  # the public API
    words = [i for i, k in enumerate(reference.kinds) if k not in SPECIAL_KINDS]
    np.testing.assert_allclose(got.scores, reference.scores[words], atol=1e-4)
    assert got.answer_word == reference.tokens[words[int(np.argmax(reference.scores[words]))]]
    assert "positive" in got.detail


def test_a_query_word_missing_from_the_text_is_a_clear_error(default_handle):
    ex = Exercise("x", "t", "attention", DOG, "q?", "g", layer=0, head=0, query="cat")
    with pytest.raises(InputError, match="'cat' is not a token"):
        answer(ex, default_handle)
    with pytest.raises(InputError, match="no layer 9"):
        answer(Exercise("x", "t", "attention", DOG, "q?", "g", layer=9, head=0, query="it"), default_handle)


def test_a_teacher_exercise_from_the_view_gets_a_fresh_id():
    ex = from_view("attention", DOG, "Which word?", "", layer=1, head=2, query="it", taken=("mine_1",))
    assert ex.id == "mine_2" and (ex.layer, ex.head, ex.query) == (1, 2, "it") and ex.guidance
    with pytest.raises(InputError):
        from_view("attention", "", "q", "g", layer=1, head=2, query="it")


def test_repeated_words_get_distinct_option_labels():
    ans = ExerciseAnswer("x", ("the", "dog", "the"), (1, 2, 4), np.array([0.1, 0.5, 0.4], np.float32), 1, "d")
    assert ans.option_labels() == ("the (1)", "dog", "the (4)")


def test_the_room_carries_the_exercise_and_counts_guesses():
    rooms = Rooms()
    code, secret = rooms.open()
    ex = load_exercises()[0]
    rooms.start_exercise(code, secret, "round1", ex.to_dict())
    assert Exercise.from_dict(dict(rooms.get(code).exercise_spec)) == ex
    members = [rooms.join(code)[0] for _ in range(3)]
    for member, option in zip(members, ["ball", "dog", "ball"]):
        rooms.guess(code, member, "round1", option)
    assert rooms.get(code).counts == {"ball": 2, "dog": 1}
    with pytest.raises(RoomError):
        rooms.start_exercise(code, "not the secret", "round2", ex.to_dict())
    with pytest.raises(RoomError, match="too large"):
        rooms.start_exercise(code, secret, "round2", {"text": "x" * (MAX_PARAM_CHARS + 1)})
    rooms.start_exercise(code, secret, None)
    assert rooms.get(code).exercise_spec is None and rooms.get(code).counts == {}


def test_guess_chart_counts_every_option_and_marks_the_answer():
    fig = guess_counts(["dog", "<b>ball</b>", "fence"], {"dog": 1, "<b>ball</b>": 2, "stray": 5},
                       answer="<b>ball</b>")
    bar = fig.data[0]
    assert list(bar.y) == [1, 2, 0]  # "stray" is not an option
    assert bar.x[1] == "&lt;b&gt;ball&lt;/b&gt; ✓" and list(bar.marker.color).count(ANSWER_COLOUR) == 1
    assert "3 guess(es)" in fig.layout.title.text
    hidden = guess_counts(["dog", "ball"], {"dog": 1}, answer=None)
    assert ANSWER_COLOUR not in list(hidden.data[0].marker.color)
    assert list(guess_counts(["a", "b", "c"], {"b": 1}, answer="c", only_chosen=True).data[0].y) == [1, 0]
    assert guess_counts(["a"], {}, large=True).layout.font.size > guess_counts(["a"], {}).layout.font.size
