"""Lab text models for the Generate page: a tiny causal language model trained offline, in seconds.

The Generate page needs a causal LM, and offline there is none to download. This trains one on a Lab text
task written out as plain sequences: the induction task's ``a k c … | c`` continues with ``k`` (the letter
that followed the earlier ``c``), the copy task's ``3 1 4 | 3`` continues with ``1 4``. The model is the
Lab's own (same layers, same attention capture) with a causal mask and a next-token head, so
``attnviz.generation.generate`` and every attention view work on it.

    >>> handle, report = train_text_model("induction", seed=0)
    >>> generate(handle, "q w e r t y u i o p | e", max_new_tokens=1).continuation   # 'r'
"""

from __future__ import annotations

import math
import threading
import time
import uuid

import torch
import torch.nn.functional as F

from attnviz.errors import InputError
from attnviz.models.handle import from_pretrained_model

from .model import LabForMaskedLM, build_tokenizer
from .tasks import Batch, Task, get_task, ids_to_text
from .train import model_config

TEXT_TASKS = {"induction": "letters, '|', a letter again → the letter that followed it",
              "copy": "digits, '|' → the same digits again"}
"""Lab tasks a text model can be trained on, and what it learns to continue."""
_LOCK = threading.Lock()  # seeding the global RNG to build a model must not interleave between sessions


class LabForCausalLM(LabForMaskedLM):
    """A Lab text model read left to right (causal mask): the logits at position i predict token i + 1."""

    def get_output_embeddings(self):
        return self.head


def next_token_batch(task: Task, batch_size: int, generator: torch.Generator) -> Batch:
    """The task's examples with the answers written in place of the '?'s; labels = the next token at the
    position before each answer (what the model must continue with), -100 elsewhere (the rest is random)."""
    batch = task.sample(batch_size, generator)
    answered = batch.labels != -100
    sequence = torch.where(answered, batch.labels, batch.inputs)
    labels = torch.full_like(sequence, -100)
    labels[:, :-1] = torch.where(answered[:, 1:], sequence[:, 1:], -100)
    return Batch(sequence, labels)


def train_text_model(task: str = "induction", *, seed: int = 0, max_steps: int = 1500, batch_size: int = 32,
                     learning_rate: float = 3e-3, stop_accuracy: float = 0.99, max_seconds: float = 120.0):
    """Train a causal Lab model on ``task`` (see ``TEXT_TASKS``); returns ``(handle, report)``.

    ``report``: steps, seconds, accuracy (next-token accuracy after the separator on 500 held-out
    examples) and an example prompt from the task.
    """
    if task not in TEXT_TASKS:
        raise InputError(f"Text models are trained on {' or '.join(TEXT_TASKS)}, not '{task}'.")
    spec = get_task(task)
    config = model_config(spec, mask="causal", is_decoder=True)
    config.architectures = [LabForCausalLM.__name__]
    with _LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LabForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    held_out = next_token_batch(spec, 500, torch.Generator().manual_seed(1_000_003 + seed))
    started, step, accuracy = time.perf_counter(), 0, 0.0
    model.train()
    while step < max_steps and time.perf_counter() - started < max_seconds:
        batch = next_token_batch(spec, batch_size, generator)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * min(1.0, (step + 1) / 30)
        logits = model(input_ids=batch.inputs).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.labels.reshape(-1), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if not math.isfinite(float(loss.detach())):
            raise InputError("Training diverged: lower the learning rate.")
        if step % 20 == 0:
            accuracy = next_token_accuracy(model, held_out)
            if accuracy >= stop_accuracy:
                break
    model.eval()
    tokenizer = build_tokenizer(list(config.vocab), max_length=config.max_position_embeddings)
    handle = from_pretrained_model(model, tokenizer, name=f"lab-lm:{task}:{uuid.uuid4().hex[:6]}")
    example = held_out.inputs[0]
    prompt_end = int((held_out.labels[0] != -100).nonzero()[0]) + 1  # up to the first answer
    report = {"task": task, "steps": step, "seconds": round(time.perf_counter() - started, 2),
              "accuracy": round(accuracy, 4), "prompt": ids_to_text(example[:prompt_end])}
    return handle, report


def next_token_accuracy(model, batch: Batch) -> float:
    """Share of the positions after the separator whose next token the model predicts (greedy)."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            predicted = model(input_ids=batch.inputs).logits.argmax(-1)
    finally:
        model.train(was_training)
    scored = batch.labels != -100
    return float((predicted == batch.labels)[scored].float().mean())
