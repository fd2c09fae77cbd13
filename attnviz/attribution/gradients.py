"""Gradient methods (captum) on the input embeddings: IG, saliency, input×gradient, GradientSHAP.

They differentiate f with respect to ``inputs_embeds`` — no layer hooks on the shared model.
"""

from __future__ import annotations

import torch
from captum.attr import GradientShap, InputXGradient, IntegratedGradients, Saliency

from ..errors import InputError
from .context import seeded

#: Steps per forward/backward pass for IG: larger batches amortise overhead but cost memory; 25 was
#: the fastest on 2 CPU cores for MiniLM (bench/bench_attribution.py).
IG_BATCH = 25


def integrated_gradients(ctx, *, n_steps: int = 50, baseline: str = "pad", method: str = "gausslegendre",
                         internal_batch_size: int | None = None):
    """IG along the straight line from a baseline (non-special tokens → ``baseline`` token) to x.

    Completeness: Σφ ≈ f(x) − f(baseline); the gap is reported as ``delta``.
    """
    if not 1 <= n_steps <= 2000:
        raise InputError("Integrated Gradients needs between 1 and 2000 steps.")
    base = ctx.baseline_embeds(baseline)
    with torch.enable_grad():
        attr, delta = IntegratedGradients(ctx.forward_embeds).attribute(
            ctx.embeds, baselines=base, n_steps=n_steps, method=method,
            internal_batch_size=internal_batch_size or min(n_steps, IG_BATCH), return_convergence_delta=True,
        )
    with torch.no_grad():
        f_base = float(ctx.forward_embeds(base)[0])
    return attr.sum(-1)[0], {"delta": float(delta[0]), "baseline_output": f_base,
                             "settings": {"n_steps": n_steps, "baseline": f"{baseline} token (specials kept)",
                                          "method": method}}


def saliency(ctx):
    """‖∂f/∂e_i‖₂ per token: how sensitive f is to each token's embedding (unsigned)."""
    with torch.enable_grad():
        grads = Saliency(ctx.forward_embeds).attribute(ctx.embeds.clone().requires_grad_(), abs=False)
    return grads[0].norm(dim=-1), {"settings": {"aggregation": "L2 norm over the embedding"}}


def input_x_gradient(ctx):
    """e_i · ∂f/∂e_i summed over the embedding: a first-order estimate of each token's contribution."""
    with torch.enable_grad():
        attr = InputXGradient(ctx.forward_embeds).attribute(ctx.embeds.clone().requires_grad_())
    return attr.sum(-1)[0], {"settings": {"aggregation": "sum over the embedding"}}


def gradient_shap(ctx, *, n_samples: int = 25, stdevs: float = 0.0, seed: int = 0,
                  baselines: tuple[str, ...] = ("pad", "unk")):
    """Expected gradients over random points between x and baselines drawn from ``baselines``."""
    base = torch.cat([ctx.baseline_embeds(b) for b in baselines])
    with seeded(seed), torch.enable_grad():
        attr, delta = GradientShap(ctx.forward_embeds).attribute(
            ctx.embeds, baselines=base, n_samples=n_samples, stdevs=stdevs, return_convergence_delta=True)
    return attr.sum(-1)[0], {"delta": float(delta.mean()), "settings": {
        "n_samples": n_samples, "stdevs": stdevs, "baselines": list(baselines), "seed": seed}}
