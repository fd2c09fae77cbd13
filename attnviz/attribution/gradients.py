"""Gradient methods on the input embeddings: IG, saliency, input×gradient (batched), GradientSHAP.

They differentiate f with respect to ``inputs_embeds`` — no layer hooks on the shared model. The first
three take a :class:`~attnviz.attribution.batch.BatchInput` and return one output per row: a single text
is a batch of one, and audits and bias probes call the very same functions on their batches.
"""

from __future__ import annotations

import torch
from captum.attr import GradientShap, IntegratedGradients

from ..errors import InputError
from .batch import BatchInput
from .context import seeded
from .result import MethodOutput

#: Steps per forward/backward pass for IG on one text: larger batches amortise overhead but cost memory;
#: 25 was the fastest on 2 CPU cores for MiniLM (bench/bench_attribution.py).
IG_BATCH = 25
#: Rows (examples × IG steps) per pass when several examples run together: 64 (4 examples × 16 steps)
#: was about twice as fast per example as 256 on 2 CPU cores (activations stay in cache; bench_audit).
IG_ROWS = 64
MAX_IG_STEPS = 2000


def integrated_gradients(batch: BatchInput, *, n_steps: int = 50, baseline: str = "pad",
                         method: str = "gausslegendre", internal_batch_size: int | None = None) -> list[MethodOutput]:
    """IG along the straight line from a baseline (non-special tokens → ``baseline`` token) to x.

    Completeness: Σφ ≈ f(x) − f(baseline); the gap is reported as ``delta``.
    """
    if isinstance(n_steps, bool) or not 1 <= int(n_steps) <= MAX_IG_STEPS:
        raise InputError(f"Integrated Gradients needs between 1 and {MAX_IG_STEPS} steps.")
    n_steps, b = int(n_steps), len(batch)
    base = batch.baseline_embeds(baseline)
    if internal_batch_size is None:
        internal_batch_size = min(n_steps, IG_BATCH) if b == 1 else max(b, IG_ROWS // b * b)
    with torch.enable_grad():
        attr, delta = IntegratedGradients(batch.forward).attribute(
            batch.embeds, baselines=base, additional_forward_args=batch.args(), n_steps=n_steps, method=method,
            internal_batch_size=internal_batch_size, return_convergence_delta=True,
        )
    f_base = batch.outputs(base)
    settings = {"n_steps": n_steps, "baseline": f"{baseline} token (specials kept)", "method": method}
    delta = delta.detach().float().cpu().numpy()
    return [MethodOutput(scores, dict(settings), delta=float(delta[j]), baseline_output=float(f_base[j]))
            for j, scores in enumerate(batch.per_row(attr.sum(-1)))]


def saliency(batch: BatchInput) -> list[MethodOutput]:
    """‖∂f/∂e_i‖₂ per token: how sensitive f is to each token's embedding (unsigned)."""
    _, grad = batch.input_gradients()
    return [MethodOutput(scores, {"aggregation": "L2 norm over the embedding"})
            for scores in batch.per_row(grad.norm(dim=-1))]


def input_x_gradient(batch: BatchInput) -> list[MethodOutput]:
    """e_i · ∂f/∂e_i summed over the embedding: a first-order estimate of each token's contribution."""
    _, grad = batch.input_gradients()
    return [MethodOutput(scores, {"aggregation": "sum over the embedding"})
            for scores in batch.per_row((batch.embeds * grad).sum(-1))]


def gradient_shap(ctx, *, n_samples: int = 25, stdevs: float = 0.0, seed: int = 0,
                  baselines: tuple[str, ...] = ("pad", "unk")) -> MethodOutput:
    """Expected gradients over random points between x and baselines drawn from ``baselines``."""
    base = torch.cat([ctx.baseline_embeds(b) for b in baselines])
    with seeded(seed), torch.enable_grad():
        attr, delta = GradientShap(ctx.forward_embeds).attribute(
            ctx.embeds, baselines=base, n_samples=n_samples, stdevs=stdevs, return_convergence_delta=True)
    return MethodOutput(attr.sum(-1)[0], {"n_samples": n_samples, "stdevs": stdevs, "baselines": list(baselines),
                                          "seed": seed}, delta=float(delta.mean()))
