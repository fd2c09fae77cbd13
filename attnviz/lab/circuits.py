"""Circuits forming: find the head that does the lookup on the induction and associative-recall tasks, and
the training step at which it formed.

The lookup both tasks need is the same: at an answer position ``p`` (a '?'), the token before it
(``x[p-1]``: the repeated letter, or the asked key) occurred earlier at ``j``; the answer is the token
after that occurrence, ``x[j+1]``. A head that attends from ``p`` to ``j+1`` does the lookup (an
*induction head* on the induction task: "find the previous copy of the current token, read what came
next"; Olsson et al. 2022 call this the prefix-matching pattern). A head's **prefix-matching score** is
its mean attention weight from the answer positions to their ``j+1``, over a fixed batch of examples:
1 = all attention on the right place; about 1/n for uniform attention.

:class:`CircuitTracker` scores every head after each of the trainer's evaluations; its
:class:`CircuitTrace` names the lookup head (the highest score at the last evaluation) and the step at
which its score first reached ``THRESHOLD``: the phase change the loss curve shows as a sudden drop.

    >>> tracker = CircuitTracker(trainer)           # a Trainer on "induction" or "associative_recall"
    >>> trainer.run(on_progress=tracker.update)
    >>> trace = tracker.trace()
    >>> trace.head, trace.formed_step               # e.g. (0, 2), 340
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from attnviz.errors import InputError
from attnviz.serialise import Serialisable, serialisable

from .tasks import Batch, get_task
from .train import Trainer

CIRCUIT_TASKS = {"induction": "induction head", "associative_recall": "lookup head"}
"""Tasks whose answer is a lookup, and what the head that does it is called."""
THRESHOLD = 0.5
"""A head 'does the lookup' once half of its attention from the answer positions lands on the right key."""
PROBE_EXAMPLES = 64
_PROBE_SEED = 7_000_003


def lookup_targets(inputs: torch.Tensor, labels: torch.Tensor) -> list[tuple[int, int, int]]:
    """(example, answer position p, key position j+1) for every answer whose preceding token occurred before.

    Args:
        inputs: [b, n] token ids; labels: [b, n], -100 except at answer positions.
    """
    out = []
    for b, row in enumerate(inputs.tolist()):
        for p in torch.nonzero(labels[b] != -100).flatten().tolist():
            if p < 1:
                continue
            previous = row[p - 1]
            earlier = [j for j in range(p - 1) if row[j] == previous]
            if earlier and earlier[0] + 1 < p - 1:
                out.append((b, p, earlier[0] + 1))
    return out


def prefix_matching_scores(attentions: np.ndarray, targets: list[tuple[int, int, int]]) -> np.ndarray:
    """[layers, heads] mean attention from each answer position to its key (see the module).

    Args:
        attentions: [b, layers, heads, n, n] attention weights.
    """
    if not targets:
        raise InputError("These examples have no lookup to score (no answer follows an earlier token).")
    b, p, k = (np.array(t) for t in zip(*targets))
    return attentions[b, :, :, p, k].mean(axis=0)


@serialisable(version=1)
@dataclass(frozen=True)
class CircuitTrace(Serialisable):
    """Every head's prefix-matching score at each evaluation of a training run.

    Attributes:
        task: the task's name; steps: [t] training steps; scores: [t, layers, heads]; losses: [t] the
        training loss logged at each step; threshold: the score at which a head counts as formed.
    """

    task: str
    steps: np.ndarray
    scores: np.ndarray
    losses: np.ndarray
    threshold: float = THRESHOLD

    @property
    def head(self) -> tuple[int, int] | None:
        """(layer, head) with the highest score at the last evaluation (None before any evaluation)."""
        if not len(self.steps):
            return None
        layer, head = np.unravel_index(int(np.argmax(self.scores[-1])), self.scores.shape[1:])
        return int(layer), int(head)

    @property
    def head_scores(self) -> np.ndarray:
        """[t] the lookup head's score over training."""
        if self.head is None:
            return np.zeros(0)
        return self.scores[:, self.head[0], self.head[1]]

    @property
    def formed_step(self) -> int | None:
        """The first step at which the lookup head's score reached the threshold (None: not yet)."""
        crossed = np.nonzero(self.head_scores >= self.threshold)[0]
        return int(self.steps[crossed[0]]) if len(crossed) else None

    @property
    def name(self) -> str:
        return CIRCUIT_TASKS.get(self.task, "lookup head")

    def to_dataframe(self) -> pd.DataFrame:
        """One row per (step, layer, head): the score, and the training loss at that step."""
        t, layers, heads = self.scores.shape if self.scores.ndim == 3 else (0, 0, 0)
        rows = [{"step": int(self.steps[i]), "layer": lay, "head": h, "score": float(self.scores[i, lay, h]),
                 "loss": float(self.losses[i])} for i in range(t) for lay in range(layers) for h in range(heads)]
        return pd.DataFrame(rows, columns=["step", "layer", "head", "score", "loss"])


class CircuitTracker:
    """Scores every head of ``trainer``'s model on a fixed batch after each evaluation.

    Pass :meth:`update` as ``Trainer.run``'s ``on_progress`` (or call it yourself after ``run``: it scores
    the evaluations it has not seen, once per call, at the model's current weights).
    """

    def __init__(self, trainer: Trainer, *, examples: int = PROBE_EXAMPLES):
        if trainer.task.name not in CIRCUIT_TASKS:
            raise InputError(f"Circuits are traced on {' and '.join(CIRCUIT_TASKS)}, not on {trainer.task.title}.")
        self.trainer = trainer
        self.batch: Batch = get_task(trainer.task.name).sample(examples, torch.Generator().manual_seed(_PROBE_SEED))
        self.targets = lookup_targets(self.batch.inputs, self.batch.labels)
        self._steps: list[int] = []
        self._scores: list[np.ndarray] = []
        self._losses: list[float] = []

    def scores_now(self) -> np.ndarray:
        """[layers, heads] prefix-matching scores of the model as it is now."""
        model = self.trainer.model
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                out = model(input_ids=self.batch.inputs, output_attentions=True)
        finally:
            model.train(was_training)
        attentions = torch.stack(out.attentions, dim=1).float().numpy()  # [b, layers, heads, n, n]
        return prefix_matching_scores(attentions, self.targets)

    def update(self, trainer: Trainer | None = None) -> None:
        history = self.trainer.history
        if history and (not self._steps or history[-1]["step"] > self._steps[-1]):
            self._steps.append(int(history[-1]["step"]))
            self._losses.append(float(history[-1]["loss"]))
            self._scores.append(self.scores_now())

    def trace(self) -> CircuitTrace:
        cfg = self.trainer.config
        empty = np.zeros((0, cfg.num_hidden_layers, cfg.num_attention_heads), np.float32)
        return CircuitTrace(self.trainer.task.name, np.array(self._steps, np.int64),
                            np.stack(self._scores).astype(np.float32) if self._scores else empty,
                            np.array(self._losses, np.float64))
