"""Training for the lab: a loop that runs in short chunks (for a web page) or to the end (headless).

    >>> trainer = Trainer("associative_recall")
    >>> trainer.run(max_seconds=60)            # or many short calls: trainer.run(max_seconds=0.5)
    >>> trainer.final_evaluation()["accuracy"]  # held-out accuracy on fresh examples

A :class:`Trainer` keeps everything a page needs to show learning as it happens: the loss and accuracy
history, and snapshots of every head's attention on one fixed probe example. Nothing is global: each
page session owns its trainer.

Accuracy is measured on examples the model never trained on: text tasks draw them from a separate random
stream (a validation set decides when to stop, a second, larger test set gives the reported accuracy);
the digits task uses a fixed 300-image test split. For text tasks it is the share of correct answers
(one per '?'); ``sequence_accuracy`` is the share of examples with every answer right.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from ..errors import InputError
from ..models.encoding import check_text
from .model import LabConfig, LabPreTrainedModel, build_model, build_tokenizer
from .tasks import QUERY, VOCAB, Batch, DigitsTask, Task, get_task, ids_to_text, text_to_ids

_INIT_LOCK = threading.Lock()  # seeding the global RNG to build a model must not interleave between sessions


@dataclass(frozen=True)
class TrainSettings:
    """How to train. ``stop_accuracy``: stop once the validation accuracy reaches it (None: never)."""

    max_steps: int = 5000
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_steps: int = 30
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    eval_every: int = 10
    validation_size: int = 500
    test_size: int = 2000
    stop_accuracy: float | None = 0.99
    snapshot_every: int = 5
    max_snapshots: int = 60

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "eval_every", "validation_size", "test_size", "snapshot_every",
                     "max_snapshots"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"Training setting '{name}' must be a positive whole number, not {value!r}.")
        if self.batch_size > 4096:
            raise InputError("Use a batch of at most 4096 examples.")
        if not 0 < self.learning_rate <= 1:
            raise InputError("The learning rate must be in (0, 1], e.g. 0.003.")
        if self.stop_accuracy is not None and not 0 < self.stop_accuracy <= 1:
            raise InputError("The stop accuracy must be in (0, 1].")


#: Per task: an architecture and training settings that learn it quickly on a laptop CPU.
#: ``token_shift`` gives every position its left neighbour's token, so one attention layer can do the
#: memory read of associative recall and induction (see model.py); without it, two layers must first
#: compose a previous-token head with a matching head, which takes thousands of steps.
RECIPES: dict[str, dict] = {
    "copy": {"model": dict(hidden_size=64, num_hidden_layers=1, num_attention_heads=4, intermediate_size=128),
             "train": dict(batch_size=32, learning_rate=3e-3)},
    "reverse": {"model": dict(hidden_size=64, num_hidden_layers=1, num_attention_heads=4, intermediate_size=128),
                "train": dict(batch_size=32, learning_rate=3e-3)},
    "sort": {"model": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
             "train": dict(batch_size=64, learning_rate=3e-3)},
    "associative_recall": {"model": dict(hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
                                         intermediate_size=128, token_shift=True),
                           "train": dict(batch_size=32, learning_rate=3e-3)},
    "induction": {"model": dict(hidden_size=64, num_hidden_layers=1, num_attention_heads=4, intermediate_size=128,
                                token_shift=True),
                  "train": dict(batch_size=32, learning_rate=3e-3)},
    "digits": {"model": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                             patch_size=2, image_size=8, num_classes=10),
               "train": dict(batch_size=64, learning_rate=2e-3, stop_accuracy=None, max_steps=1500,
                             eval_every=50)},
}


def recipe(task: str) -> tuple[dict, TrainSettings]:
    """(model settings, training settings) that work well for ``task``."""
    get_task(task)
    chosen = RECIPES[task]
    return dict(chosen["model"]), TrainSettings(**chosen["train"])


def model_config(task: str | Task, **overrides) -> LabConfig:
    """A LabConfig for ``task``: its recipe, changed by ``overrides`` (e.g. score="cosine", mask="causal")."""
    task = get_task(task) if isinstance(task, str) else task
    settings = {**RECIPES.get(task.name, {}).get("model", {}), **overrides, "task": task.name}
    if task.kind == "text":
        settings.setdefault("vocab", list(VOCAB))
        settings.pop("patch_size", None)
        settings["max_position_embeddings"] = max(settings.get("max_position_embeddings", 0) or 0,
                                                  task.sequence_length, 32)
    else:
        settings.pop("vocab", None)
        settings.setdefault("patch_size", 2)
        side = settings.get("image_size", 8) // settings["patch_size"] if settings["patch_size"] else 0
        settings["max_position_embeddings"] = side * side + 1
    try:
        return LabConfig(**settings)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"Invalid lab model settings: {exc}") from exc


def _check_fits(task: Task, config: LabConfig) -> None:
    if (task.kind == "image") != config.is_image_model:
        raise InputError(f"A {'n image' if config.is_image_model else ' text'} model cannot learn the "
                         f"{task.title} task.")
    if task.kind == "text":
        if list(config.vocab or []) != VOCAB:
            raise InputError("This model's vocabulary is not the lab's: it cannot be trained on the lab tasks.")
        if task.sequence_length > config.max_position_embeddings:
            raise InputError(f"The {task.title} task needs {task.sequence_length} positions; this model has "
                             f"{config.max_position_embeddings}.")


@dataclass(frozen=True)
class Snapshot:
    """Every head's attention on the probe example at one training step: ``attentions`` [layers, heads, n, n]."""

    step: int
    attentions: np.ndarray
    accuracy: float | None
    prediction: str


class Trainer:
    """A model, its optimiser, its data stream and what was seen so far.

    Attributes:
        history: one dict per evaluation: step, seconds, loss (mean training loss since the last
            evaluation) and accuracy (on the validation set).
        snapshots: :class:`Snapshot` list, at most ``settings.max_snapshots`` (older ones are thinned).
        step, seconds: optimiser steps taken and compute time spent in :meth:`run`.
        stop_reason: None while training can go on; "reached" (stop accuracy), "max_steps", "stopped",
            "diverged" (or "max_seconds", set by :func:`train_task`).
    """

    def __init__(self, task: str | Task = "associative_recall", config: LabConfig | dict | None = None,
                 settings: TrainSettings | dict | None = None):
        self.task = get_task(task) if isinstance(task, str) else task
        base_settings = TrainSettings(**RECIPES.get(self.task.name, {}).get("train", {}))
        if isinstance(settings, dict):
            settings = replace(base_settings, **settings)
        self.settings = settings or base_settings
        self.config = config if isinstance(config, LabConfig) else model_config(self.task, **(config or {}))
        _check_fits(self.task, self.config)
        with _INIT_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.settings.seed)
            self.model = build_model(self.config)
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.settings.learning_rate,
                                           weight_decay=self.settings.weight_decay)
        self.generator = torch.Generator().manual_seed(self.settings.seed)
        seed = self.settings.seed
        if isinstance(self.task, DigitsTask):
            self.validation = self.test = self.task.held_out()
        else:
            self.validation = self.task.sample(self.settings.validation_size,
                                               torch.Generator().manual_seed(1_000_003 + seed))
            self.test = self.task.sample(self.settings.test_size, torch.Generator().manual_seed(2_000_003 + seed))
        self.probe = self.task.probe()
        self.history, self.snapshots = [], []
        self.step, self.seconds, self.stop_reason = 0, 0.0, None
        self._losses: list[float] = []
        self._snapshot_every = self.settings.snapshot_every
        self.take_snapshot(None)

    # ------------------------------------------------------------------------------------- steps
    @property
    def finished(self) -> bool:
        return self.stop_reason is not None

    def learning_rate(self) -> float:
        """Linear warm-up, then constant."""
        return self.settings.learning_rate * min(1.0, (self.step + 1) / max(1, self.settings.warmup_steps))

    def train_step(self) -> float:
        """One optimiser step on a fresh batch; returns its loss."""
        batch = self.task.sample(self.settings.batch_size, self.generator)
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        out = self.model(**self._inputs(batch), labels=batch.labels)
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if self.settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        self.step += 1
        loss = float(out.loss.detach())
        if not math.isfinite(loss):
            self.stop_reason = "diverged"
        return loss

    def run(self, *, max_seconds: float | None = None, max_steps: int | None = None,
            should_stop: Callable[[], bool] | None = None,
            on_progress: Callable[[Trainer], None] | None = None) -> Trainer:
        """Train until finished or until this call's budget (seconds, steps) is used up.

        Call it once with the whole budget, or repeatedly with small budgets (a page does, so it can
        redraw and react to a stop button in between). ``on_progress`` is called after each evaluation.
        """
        started = time.perf_counter()
        first_step = self.step
        while not self.finished:
            if should_stop is not None and should_stop():
                self.stop_reason = "stopped"
                break
            if self.step >= self.settings.max_steps:
                self.stop_reason = "max_steps"
                break
            if max_steps is not None and self.step - first_step >= max_steps:
                break
            if max_seconds is not None and time.perf_counter() - started >= max_seconds:
                break
            self._losses.append(self.train_step())
            if self.step % self.settings.eval_every == 0 or self.step >= self.settings.max_steps:
                self._record(started)
                if on_progress is not None:
                    on_progress(self)
            if self.step % self._snapshot_every == 0:
                self.take_snapshot(self.history[-1]["accuracy"] if self.history else None)
        self.seconds += time.perf_counter() - started
        if self.finished and (not self.snapshots or self.snapshots[-1].step != self.step):
            self.take_snapshot(self.history[-1]["accuracy"] if self.history else None)
        return self

    def _record(self, started: float) -> None:
        accuracy = self.evaluate(self.validation)["accuracy"]
        loss = float(np.mean(self._losses)) if self._losses else float("nan")
        self._losses = []
        self.history.append({"step": self.step, "seconds": round(self.seconds + time.perf_counter() - started, 3),
                             "loss": loss, "accuracy": accuracy})
        stop = self.settings.stop_accuracy
        if stop is not None and accuracy >= stop:
            self.stop_reason = "reached"

    # -------------------------------------------------------------------------------- evaluation
    def _inputs(self, batch: Batch) -> dict:
        if self.config.is_image_model:
            return {"pixel_values": batch.inputs}
        return {"input_ids": batch.inputs}

    def predict(self, batch: Batch) -> torch.Tensor:
        """Predicted token ids [b, n] (text) or classes [b] (images), in eval mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                return self.model(**self._inputs(batch)).logits.argmax(-1)
        finally:
            self.model.train(was_training)

    def evaluate(self, batch: Batch) -> dict:
        """accuracy (share of correct answers) and sequence_accuracy (examples entirely right)."""
        predicted = self.predict(batch)
        if predicted.ndim == 1:  # image classes
            correct = (predicted == batch.labels).float()
            return {"accuracy": float(correct.mean()), "sequence_accuracy": float(correct.mean())}
        answered = batch.labels != -100
        right = (predicted == batch.labels) | ~answered
        return {"accuracy": float((predicted == batch.labels)[answered].float().mean()),
                "sequence_accuracy": float(right.all(dim=1).float().mean())}

    def final_evaluation(self) -> dict:
        """Held-out accuracy on the test set (never used for training or stopping, except digits: see module)."""
        result = self.evaluate(self.test)
        return {**result, "steps": self.step, "train_seconds": round(self.seconds, 3),
                "stop_reason": self.stop_reason, "test_examples": len(self.test)}

    # --------------------------------------------------------------------------------- snapshots
    def take_snapshot(self, accuracy: float | None) -> None:
        """Attention of every head on the probe example, now; old snapshots are thinned to stay bounded."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                out = self.model(**self._inputs(self.probe), output_attentions=True)
        finally:
            self.model.train(was_training)
        attentions = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
        self.snapshots.append(Snapshot(self.step, attentions, accuracy, self._describe(out.logits)))
        if len(self.snapshots) > self.settings.max_snapshots:
            # keep the first, then every other one; snapshot half as often from now on
            self.snapshots = self.snapshots[:1] + self.snapshots[2::2]
            self._snapshot_every *= 2

    def _describe(self, logits: torch.Tensor) -> str:
        if self.config.is_image_model:
            return f"predicted {int(logits[0].argmax())} (true {int(self.probe.labels[0])})"
        answered = self.probe.labels[0] != -100
        return ids_to_text(logits[0].argmax(-1)[answered])

    def probe_tokens(self) -> list[str]:
        """Labels of the probe's positions: its tokens (text) or "[CLS]", "p0", "p1", … (image patches)."""
        if self.config.is_image_model:
            return ["[CLS]"] + [f"p{i}" for i in range(self.config.num_patches)]
        return ids_to_text(self.probe.inputs[0]).split()

    def probe_text(self) -> str:
        return "" if self.config.is_image_model else ids_to_text(self.probe.inputs[0])

    # ------------------------------------------------------------------------------------ try it
    def answer(self, text: str) -> dict:
        """Run the model on a typed text task: tokens, the answer under each '?', every head's attention.

        Returns a dict: ``tokens`` (list), ``answers`` (one predicted token per '?'), ``attentions``
        [layers, heads, n, n] numpy.
        """
        if self.config.is_image_model:
            raise InputError("The digits model reads images, not text.")
        ids = text_to_ids(check_text(text, "task text"))
        if len(ids) > self.config.max_position_embeddings:
            raise InputError(f"This model reads at most {self.config.max_position_embeddings} tokens; the text "
                             f"has {len(ids)}.")
        batch = torch.tensor([ids])
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                out = self.model(input_ids=batch, output_attentions=True)
        finally:
            self.model.train(was_training)
        predicted = out.logits[0].argmax(-1)
        return {"tokens": [VOCAB[i] for i in ids],
                "answers": [VOCAB[int(predicted[i])] for i, t in enumerate(ids) if t == QUERY],
                "attentions": torch.stack([a[0] for a in out.attentions]).float().numpy()}

    # ------------------------------------------------------------------------------------ export
    @classmethod
    def from_model(cls, model: LabPreTrainedModel, settings: TrainSettings | dict | None = None) -> Trainer:
        """A trainer that goes on from a loaded model (its config must name its task)."""
        task = getattr(model.config, "task", None)
        if not task:
            raise InputError("This lab model's config names no task, so the lab cannot train or probe it.")
        trainer = cls(task, model.config, settings)
        trainer.model.load_state_dict(model.state_dict())
        trainer.snapshots = []
        trainer.take_snapshot(trainer.evaluate(trainer.validation)["accuracy"])
        return trainer

    def frozen_copy(self) -> LabPreTrainedModel:
        """A copy of the model in eval mode for other pages (training may go on with the original)."""
        copy = build_model(self.config)
        copy.load_state_dict(self.model.state_dict())
        return copy.eval()

    def tokenizer(self):
        if self.config.is_image_model:
            raise InputError("The digits model reads images, not text: it has no tokenizer.")
        return build_tokenizer(self.config.vocab, max_length=self.config.max_position_embeddings)

    def summary(self) -> dict:
        return {"task": self.task.name, "step": self.step, "seconds": round(self.seconds, 3),
                "stop_reason": self.stop_reason, "settings": asdict(self.settings),
                "model": {k: v for k, v in self.config.to_dict().items() if k != "vocab"}}


def train_task(task: str = "associative_recall", *, max_seconds: float | None = 60.0,
               config: dict | None = None, settings: dict | None = None,
               on_progress: Callable[[Trainer], None] | None = None) -> tuple[dict, Trainer]:
    """Train ``task`` headless (its recipe unless overridden): (final held-out evaluation, the trainer).

    ``seconds`` in the result is the wall time from building the model to the end of the final evaluation.
    """
    started = time.perf_counter()
    trainer = Trainer(task, config, settings)
    trainer.run(max_seconds=max_seconds, on_progress=on_progress)
    if trainer.stop_reason is None:
        trainer.stop_reason = "max_seconds"
    result = trainer.final_evaluation()
    return {"accuracy": round(result["accuracy"], 4), "seconds": round(time.perf_counter() - started, 2),
            "task": trainer.task.name, "steps": trainer.step, "sequence_accuracy": round(result["sequence_accuracy"], 4),
            "stop_reason": trainer.stop_reason}, trainer
