"""Attribution: which input tokens mattered for one explained number f(x) — one engine for one text or many.

    >>> model = attnviz.load_model()
    >>> attr = model.attribute("A wonderful, warm film.", method="integrated_gradients")
    >>> attr.target, attr.output, attr.scores      # "p(positive | x) — zero-shot, τ = 0.05", f(x), [n]

All methods share one input preparation (tokens, target, baselines) so their scores line up token by
token, and none puts hooks on the shared model. Audits and bias probes run the batched methods through
:func:`attribute_batch` / :mod:`attnviz.attribution.batch`: the same functions, on padded batches.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..errors import InputError, ResourceError
from .batch import BatchInput
from .context import AttributionInput, prepare, prepare_encoded
from .explain import BatchExplanation, attribute_batch
from .registry import (
    METHODS,
    Method,
    batched_methods,
    check_method,
    default_methods,
    method_title,
    register,
)
from .result import Attribution, MethodOutput


def attribute(handle, text: str, method: str = "integrated_gradients", *, target=None,
              text_pair: str | None = None, **settings) -> Attribution:
    """Explain f(x) (``target``; None = the model's prediction) with one method; see METHODS."""
    check_method(method)
    ctx = prepare(handle, text, text_pair, target)
    return run(ctx, method, **settings)


def run(ctx: AttributionInput, method: str, **settings) -> Attribution:
    """One method on a prepared input (the Attribution page prepares once and runs several)."""
    record = check_method(method)
    started = time.perf_counter()
    try:
        out = record.run(ctx, **settings)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise InputError(f"{method} does not take that setting: {exc}") from exc
        raise
    except torch.OutOfMemoryError as exc:
        raise ResourceError("Out of GPU memory while attributing: try fewer steps or the CPU.",
                            retry_on_cpu=True) from exc
    return label(ctx, record, out, time.perf_counter() - started)


def label(ctx: AttributionInput, record: Method, out: MethodOutput, seconds: float | None = None) -> Attribution:
    """A method's raw output labelled with the input's tokens and the target: the Attribution result."""
    scores = out.scores
    scores = np.asarray(scores.detach().float().cpu() if hasattr(scores, "detach") else scores, dtype=np.float32)
    if not np.all(np.isfinite(scores)):
        raise InputError(f"{record.name} produced non-finite scores (NaN/inf): try other settings.")
    settings = dict(out.settings)
    if seconds is not None:
        settings["seconds"] = round(seconds, 4)
    if out.baseline_output is not None:
        settings["baseline_output"] = out.baseline_output
    enc = ctx.encoding
    return Attribution(
        tokens=enc.tokens, scores=scores, method=record.name, target=ctx.scorer.description, label=ctx.scorer.label,
        output=out.output if out.output is not None else ctx.output(), kinds=enc.kinds, words=enc.words,
        delta=out.delta, base_value=out.base_value, settings=settings, model_name=getattr(ctx.handle, "name", ""),
        signed=record.signed,
    )


__all__ = ["METHODS", "Attribution", "AttributionInput", "BatchExplanation", "BatchInput", "Method",
           "MethodOutput", "attribute", "attribute_batch", "batched_methods", "check_method", "default_methods",
           "label", "method_title", "prepare", "prepare_encoded", "register", "run"]
