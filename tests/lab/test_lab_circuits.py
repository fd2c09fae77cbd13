"""Circuits forming in the Lab: the prefix-matching score, the lookup head and the step it formed; the
training chart's log axis and its marks."""

import numpy as np
import pytest
import torch

from attnviz.errors import InputError
from attnviz.figures import lab as lfigs
from attnviz.lab.circuits import (
    THRESHOLD,
    CircuitTrace,
    CircuitTracker,
    lookup_targets,
    prefix_matching_scores,
)
from attnviz.lab.tasks import get_task
from attnviz.lab.train import Trainer
from attnviz.serialise import dumps, loads


@pytest.mark.parametrize("task", ["induction", "associative_recall"])
def test_lookup_targets_point_at_the_answer(task):
    batch = get_task(task).sample(16, torch.Generator().manual_seed(3))
    targets = lookup_targets(batch.inputs, batch.labels)
    answers = int((batch.labels != -100).sum())
    assert len(targets) == answers  # every answer is a lookup on these tasks
    for b, p, k in targets:
        assert batch.inputs[b, k] == batch.labels[b, p]  # the key position holds the answer
        assert batch.inputs[b, k - 1] == batch.inputs[b, p - 1]  # ... right after the earlier copy
        assert k < p - 1


def test_prefix_matching_score_of_hand_made_heads():
    batch = get_task("induction").sample(8, torch.Generator().manual_seed(0))
    targets = lookup_targets(batch.inputs, batch.labels)
    b, n = batch.inputs.shape
    att = np.zeros((b, 1, 3, n, n), np.float32)
    att[:, 0, 0] = 1.0 / n  # uniform
    att[:, 0, 1, :, 0] = 1.0  # always the first token
    for i, p, k in targets:
        att[i, 0, 2, p, k] = 1.0  # the lookup
    np.testing.assert_allclose(prefix_matching_scores(att, targets), [[1.0 / n, 0.0, 1.0]], atol=1e-6)
    with pytest.raises(InputError):
        prefix_matching_scores(att, [])


def test_trace_marks_the_first_crossing():
    scores = np.array([[[0.1, 0.2]], [[0.3, 0.45]], [[0.2, 0.55]], [[0.1, 0.4]], [[0.1, 0.9]]], np.float32)
    trace = CircuitTrace("induction", np.array([10, 20, 30, 40, 50]), scores, np.array([2.0, 1.9, 0.8, 0.5, 0.1]))
    assert trace.head == (0, 1) and trace.formed_step == 30 and trace.name == "induction head"
    assert len(trace.to_dataframe()) == 10
    again = loads(dumps(trace))
    np.testing.assert_array_equal(again.scores, trace.scores) and again.formed_step == 30
    fig = lfigs.circuit_scores(trace)
    assert len(fig.data) == 2 and fig.data[1].line.color == "#d62728"
    assert any("step 30" in (a.text or "") for a in fig.layout.annotations)


@pytest.fixture(scope="module")
def induction_run():
    """Seed 0 on the induction task with the Lab's default budget (the page's 2,000 steps)."""
    trainer = Trainer("induction", None, {"seed": 0, "max_steps": 2000})
    tracker = CircuitTracker(trainer)
    trainer.run(on_progress=tracker.update)
    return trainer, tracker.trace()


def test_the_lab_marks_an_induction_head(induction_run):
    trainer, trace = induction_run
    assert trainer.stop_reason == "reached"
    layer, head = trace.head
    formed = trace.formed_step
    assert formed is not None and formed <= 2000
    i = list(trace.steps).index(formed)
    assert trace.head_scores[i] >= THRESHOLD > trace.head_scores[:i].max()  # the step where it crosses
    assert trace.losses[-1] < trace.losses[0] / 4  # the loss drops with it
    # Independently: on fresh examples, the head's attention from the '?' lands on the answer letter.
    batch = get_task("induction").sample(128, torch.Generator().manual_seed(99))
    trainer.model.eval()
    with torch.inference_mode():
        att = trainer.model(input_ids=batch.inputs, output_attentions=True).attentions[layer][:, head]
    p = batch.inputs.shape[1] - 1
    answer_pos = (batch.inputs[:, :p] == batch.labels[:, p:p + 1]).float().argmax(1)
    assert float(att[torch.arange(128), p, answer_pos].mean()) >= THRESHOLD


def test_training_chart_labels_its_log_axis_and_marks_the_phase_change():
    history = [{"step": s, "loss": 3.0 * 0.5 ** (s / 10), "accuracy": min(1, s / 100)} for s in range(10, 110, 10)]
    fig = lfigs.training_curves(history, target=0.95, marks={"induction head forms": 40})
    axis = fig.layout.yaxis
    assert axis.type == "log" and "log" in axis.title.text
    labels = list(axis.ticktext)
    assert len(labels) == len(set(labels))  # not "1, 1, 5, 2, 0.1, 5"
    assert [float(t) for t in labels] == list(axis.tickvals) == sorted(axis.tickvals)
    losses = [h["loss"] for h in history]
    assert len(labels) >= 3 and all(min(losses) / 1.5 <= t <= max(losses) * 1.5 for t in axis.tickvals)
    assert np.diff(np.log10(axis.tickvals)).max() <= 1.0  # a label in every decade the losses span
    assert sum(1 for s in fig.layout.shapes if s.x0 == 40) == 2
    assert any("induction head forms (step 40)" in (a.text or "") for a in fig.layout.annotations)
    assert lfigs.log_ticks([0.5, 0.02]) == [0.02, 0.05, 0.1, 0.2, 0.5]
