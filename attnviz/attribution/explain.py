"""Explain many tokenised inputs at once: predictions and every method's scores, batched where possible.

Audits call this; it decides what runs over the whole padded batch (label targets with batched
methods: one pass gives every row's own prediction and gradient) and what runs one input at a time
(the other methods, or targets bound per input such as a masked token), so the audit only orchestrates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..errors import InputError
from ..models.encoding import Encoding
from ..models.targets import ZeroShotTarget, label_head
from .batch import BatchInput
from .context import AttributionInput, prepare_encoded
from .registry import check_method
from .result import MethodOutput


@dataclass(frozen=True)
class BatchExplanation:
    """One input's prediction and its methods' outputs (in the order the methods were asked for)."""

    predicted: str
    target: str  # the explained number, e.g. "p(positive | x) — zero-shot, τ = 0.05"
    output: float  # f(x)
    probabilities: dict
    outputs: dict  # method name -> MethodOutput
    explained: object  # the target with its label fixed to the one explained (re-scoring uses it)
    context: AttributionInput | None = None  # set when the input was prepared on its own


def attribute_batch(handle, encodings: Sequence[Encoding], target, methods: Sequence[str], *,
                    settings: Mapping[str, dict] | None = None, model_outputs=None,
                    check: Callable[[], None] | None = None) -> list[BatchExplanation]:
    """Predict and attribute every input of ``encodings`` (all for the same ``target``).

    Args:
        encodings: tokenised inputs (``handle.encode``), any lengths: they are right-padded together.
        target: a Target (its label None: each input explains its own predicted class).
        methods: method names (:data:`~attnviz.attribution.METHODS`).
        settings: per method, settings for it (e.g. ``{"integrated_gradients": {"n_steps": 16}}``).
        model_outputs: the model's outputs on the padded batch if the caller already ran it (predictions
            are then read off them instead of running the model again).
        check: called between steps; raise from it to stop (e.g. a cancelled audit).
    """
    settings = settings or {}
    check = check or (lambda: None)
    records = [check_method(m) for m in methods]
    head = label_head(handle, target)
    results: list[dict] = [{"outputs": {}} for _ in encodings]
    contexts: dict[int, AttributionInput] = {}
    batch = None
    if head is not None:
        rows = [{"input_ids": e.inputs["input_ids"][0], "token_type_ids": e.inputs.get("token_type_ids", [None])[0]}
                for e in encodings]
        fixed = [e.special for e in encodings]
        batch = BatchInput.from_rows(handle, rows, fixed, lambda *a: head.value(a[0], a[1], a[3]))
        with torch.inference_mode():
            outputs = model_outputs if model_outputs is not None else handle.model(**batch.model_inputs())
            probs = head.probabilities(outputs, batch.attention_mask).float().cpu()
            index = probs.argmax(-1) if head.chosen is None else torch.full((len(encodings),), head.chosen)
            values = head.value(outputs, batch.attention_mask, index.to(batch.attention_mask.device)).float().cpu()
        batch.index = index.clone().to(handle.device)  # a normal tensor: inference tensors cannot enter autograd
        for j in range(len(encodings)):
            k = int(index[j])
            label = head.names[k] if isinstance(target, ZeroShotTarget) else k
            results[j].update(predicted=head.names[k], target=head.describe(k), output=float(values[j]),
                              probabilities={n: float(p) for n, p in zip(head.names, probs[j].tolist())},
                              explained=replace(target, label=label))
    else:
        for j, enc in enumerate(encodings):
            check()
            ctx = contexts[j] = prepare_encoded(handle, enc, target)
            results[j].update(predicted=ctx.scorer.label, target=ctx.scorer.description, output=ctx.output(),
                              probabilities=dict(ctx.scorer.label_probabilities), explained=target)
    for record in records:
        if batch is not None and record.batched and not getattr(handle, "pools_by_pad_token", False):
            check()
            for j, out in enumerate(record.function(batch, **settings.get(record.name, {}))):
                results[j]["outputs"][record.name] = out
            continue
        for j, enc in enumerate(encodings):
            check()
            if j not in contexts:
                contexts[j] = prepare_encoded(handle, enc, results[j]["explained"])
            results[j]["outputs"][record.name] = _raw(record, contexts[j], settings.get(record.name, {}))
    return [BatchExplanation(context=contexts.get(j), **r) for j, r in enumerate(results)]


def _raw(record, ctx: AttributionInput, settings: dict) -> MethodOutput:
    out = record.run(ctx, **settings)
    scores = out.scores.detach().float().cpu().numpy() if hasattr(out.scores, "detach") else np.asarray(out.scores)
    if not np.all(np.isfinite(scores)):
        raise InputError(f"{record.name} produced non-finite scores (NaN/inf): try other settings.")
    return replace(out, scores=scores.astype(np.float32))
