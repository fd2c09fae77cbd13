"""Toy tasks: every generated answer is checked against a plain-Python solution of the task."""

import pytest
import torch

from attnviz.errors import InputError
from attnviz.lab.tasks import TASKS, VOCAB, answers_of, get_task, ids_to_text, text_to_ids


def examples(name, n=64, seed=7):
    batch = get_task(name).sample(n, torch.Generator().manual_seed(seed))
    for inputs, answers in zip(batch.inputs, answers_of(batch)):
        yield ids_to_text(inputs).split(), [VOCAB[a] for a in answers]


def split(tokens):
    bar = tokens.index("|")
    return tokens[:bar], tokens[bar + 1:]


@pytest.mark.parametrize("name,solve", [
    ("copy", lambda digits: digits),
    ("reverse", lambda digits: digits[::-1]),
    ("sort", lambda digits: sorted(digits, key=int)),
])
def test_sequence_tasks(name, solve):
    for tokens, answers in examples(name):
        question, rest = split(tokens)
        assert all(t.isdigit() for t in question) and rest == ["?"] * len(question)
        assert answers == solve(question)


def test_associative_recall_answers_each_queried_key_with_its_value():
    for tokens, answers in examples("associative_recall"):
        memory, rest = split(tokens)
        pairs = dict(zip(memory[0::2], memory[1::2]))
        assert len(pairs) == len(memory) // 2  # keys are distinct
        assert all(k.isalpha() for k in pairs) and all(v.isdigit() for v in pairs.values())
        queries, marks = rest[0::2], rest[1::2]
        assert marks == ["?"] * len(queries) and len(set(queries)) == len(queries)
        assert answers == [pairs[q] for q in queries]


def test_induction_answers_what_followed_the_repeated_letter():
    for tokens, answers in examples("induction"):
        letters, rest = split(tokens)
        assert len(set(letters)) == len(letters) and rest[1] == "?"
        assert answers == [letters[letters.index(rest[0]) + 1]]


def test_sampling_is_reproducible_and_varied():
    task = get_task("associative_recall")
    a = task.sample(32, torch.Generator().manual_seed(1)).inputs
    b = task.sample(32, torch.Generator().manual_seed(1)).inputs
    c = task.sample(32, torch.Generator().manual_seed(2)).inputs
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len({tuple(row.tolist()) for row in a}) == 32
    assert torch.equal(task.probe().inputs, task.probe().inputs)


def test_digits_task_has_a_fixed_disjoint_test_split():
    task = get_task("digits")
    images, labels, train_idx, test_idx = task.data()
    assert images.shape == (1797, 8, 8) and 0 <= images.min() and images.max() <= 1
    assert len(test_idx) == 300 and not set(train_idx.tolist()) & set(test_idx.tolist())
    batch = task.sample(16, torch.Generator().manual_seed(0))
    assert batch.inputs.shape == (16, 8, 8) and batch.labels.shape == (16,)
    assert torch.equal(task.held_out().labels, labels[test_idx])


def test_text_round_trip_and_unknown_task():
    text = "a 1 b 2 | a ?"
    assert ids_to_text(text_to_ids(text)) == text
    assert ids_to_text(text_to_ids("zz")) == "[UNK]"
    with pytest.raises(InputError, match="copy"):
        get_task("translate")
    assert set(TASKS) >= {"copy", "reverse", "sort", "associative_recall", "induction", "digits"}
