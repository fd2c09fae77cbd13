"""Attribution: which input tokens mattered for one explained number f(x).

    >>> model = attnviz.load_model()
    >>> attr = model.attribute("A wonderful, warm film.", method="integrated_gradients")
    >>> attr.target, attr.output, attr.scores      # "p(positive | x) — zero-shot, τ = 0.05", f(x), [n]

All methods share one input preparation (tokens, target, baselines) so their scores line up token by
token, and none puts hooks on the shared model.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ..errors import InputError, ResourceError
from . import attention_based, gradients, perturbation, shap_method
from .context import AttributionInput, prepare
from .result import Attribution

METHODS: dict[str, Callable] = {
    "shap": shap_method.shap_values,
    "integrated_gradients": gradients.integrated_gradients,
    "saliency": gradients.saliency,
    "input_x_gradient": gradients.input_x_gradient,
    "gradient_shap": gradients.gradient_shap,
    "occlusion": perturbation.occlusion,
    "lime": perturbation.lime,
    "rollout": attention_based.rollout,
    "grad_attention": attention_based.grad_attention,
}

METHOD_TITLES = {
    "shap": "SHAP (Partition)", "integrated_gradients": "Integrated Gradients", "saliency": "Saliency",
    "input_x_gradient": "Input × gradient", "gradient_shap": "GradientSHAP", "occlusion": "Occlusion",
    "lime": "LIME", "rollout": "Attention rollout", "grad_attention": "Grad × attention",
}


def register(name: str, fn: Callable) -> None:
    METHODS[name] = fn


def attribute(handle, text: str, method: str = "integrated_gradients", *, target=None,
              text_pair: str | None = None, **settings) -> Attribution:
    """Explain f(x) (``target``; None = the model's prediction) with one method; see METHODS."""
    if method not in METHODS:
        raise InputError(f"Unknown method '{method}': use one of {', '.join(sorted(METHODS))}.")
    ctx = prepare(handle, text, text_pair, target)
    return run(ctx, method, **settings)


def run(ctx: AttributionInput, method: str, **settings) -> Attribution:
    """One method on a prepared input (the comparison page prepares once and runs several)."""
    import torch

    fn = METHODS.get(method)
    if fn is None:
        raise InputError(f"Unknown method '{method}': use one of {', '.join(sorted(METHODS))}.")
    started = time.perf_counter()
    try:
        scores, extra = fn(ctx, **settings)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise InputError(f"{method} does not take that setting: {exc}") from exc
        raise
    except torch.OutOfMemoryError as exc:
        raise ResourceError("Out of GPU memory while attributing: try fewer steps or the CPU.",
                            retry_on_cpu=True) from exc
    scores = np.asarray(scores.detach().float().cpu() if hasattr(scores, "detach") else scores, dtype=np.float32)
    if not np.all(np.isfinite(scores)):
        raise InputError(f"{method} produced non-finite scores (NaN/inf): try other settings.")
    enc = ctx.encoding
    return Attribution(
        tokens=enc.tokens, scores=scores, method=method, target=ctx.scorer.description, label=ctx.scorer.label,
        output=extra.pop("output", None) or ctx.output(), kinds=enc.kinds, words=enc.words,
        delta=extra.get("delta"), base_value=extra.get("base_value"),
        settings={**extra.get("settings", {}), "seconds": round(time.perf_counter() - started, 4),
                  **({"baseline_output": extra["baseline_output"]} if "baseline_output" in extra else {})},
        model_name=handle_name(ctx),
    )


def handle_name(ctx) -> str:
    return getattr(ctx.handle, "name", "")


__all__ = ["METHODS", "METHOD_TITLES", "Attribution", "AttributionInput", "attribute", "prepare", "register", "run"]
