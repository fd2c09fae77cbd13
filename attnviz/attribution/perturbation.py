"""Perturbation methods (captum): occlusion and LIME, one token at a time as the feature.

Replaced tokens take the baseline token's embedding; special tokens keep their own (so they are never
perturbed and score 0).
"""

from __future__ import annotations

import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import Lime, Occlusion

from .context import seeded
from .result import MethodOutput


def occlusion(ctx, *, baseline: str = "pad", window: int = 1):
    """f(x) − f(x with the token window replaced by ``baseline``), per token."""
    d = ctx.embeds.shape[-1]
    with torch.no_grad():
        attr = Occlusion(ctx.forward_embeds).attribute(
            ctx.embeds, sliding_window_shapes=(window, d), strides=(1, d),
            baselines=ctx.baseline_embeds(baseline), perturbations_per_eval=32)
    return MethodOutput(attr[0].mean(-1), {"baseline": f"{baseline} token", "window": window})


def lime(ctx, *, n_samples: int = 200, baseline: str = "pad", alpha: float = 0.01, seed: int = 0):
    """A ridge surrogate fit on random token subsets (captum Lime, cosine-kernel weights)."""
    n, d = ctx.embeds.shape[1:]
    feature_mask = torch.arange(n, device=ctx.embeds.device).view(1, n, 1).expand(1, n, d)
    with seeded(seed), torch.no_grad():
        attr = Lime(ctx.forward_embeds, interpretable_model=SkLearnRidge(alpha=alpha)).attribute(
            ctx.embeds, baselines=ctx.baseline_embeds(baseline), feature_mask=feature_mask,
            n_samples=n_samples, perturbations_per_eval=50)
    return MethodOutput(attr[0, :, 0], {"n_samples": n_samples, "baseline": f"{baseline} token",
                                        "surrogate": f"ridge (alpha={alpha})", "seed": seed})
