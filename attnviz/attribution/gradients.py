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


#: The completeness gap |Σφ − (f(x) − f(baseline))| the default IG call stops at (adaptive steps).
DEFAULT_TOL = 1e-2
#: Adaptive IG: the path [0, 1] is cut into Simpson panels on a dyadic grid of this resolution; the first
#: round evaluates START_PANELS panels (2·START_PANELS + 1 points), each later round splits the SPLIT_PANELS
#: panels with the largest local error estimate (2 new points each; every earlier gradient is reused).
GRID = 2 ** 12
START_PANELS = 4
SPLIT_PANELS = 4


def integrated_gradients(batch: BatchInput, *, n_steps: int | None = None, tol: float | None = None,
                         baseline: str = "pad", method: str = "gausslegendre",
                         internal_batch_size: int | None = None) -> list[MethodOutput]:
    """IG along the straight line from a baseline (non-special tokens → ``baseline`` token) to x.

    Completeness: Σφ ≈ f(x) − f(baseline); the gap is reported as ``delta``.

    Two ways to choose the steps:
        * ``tol`` (the default when neither is given: ``DEFAULT_TOL``): adaptive Simpson on nested dyadic
          points. Rounds add points where the local error estimate |Simpson − trapezoid| is largest,
          reusing every gradient already computed, until every row's gap is ≤ ``tol`` (the gap is known
          exactly: f(x) and f(baseline) are computed) or ``n_steps`` points (default 128) are spent.
          Settings report ``steps_used`` and whether ``tol_reached``.
        * ``n_steps`` alone: a fixed rule of that many points (``method``, captum's Gauss-Legendre by default).
    """
    adaptive = tol is not None or n_steps is None
    if n_steps is None:
        n_steps = 128
    if isinstance(n_steps, bool) or not 1 <= int(n_steps) <= MAX_IG_STEPS:
        raise InputError(f"Integrated Gradients needs between 1 and {MAX_IG_STEPS} steps.")
    n_steps, b = int(n_steps), len(batch)
    base = batch.baseline_embeds(baseline)
    if adaptive:
        tol = DEFAULT_TOL if tol is None else tol
        if isinstance(tol, bool) or not float(tol) > 0:
            raise InputError("Integrated Gradients' tol (the completeness gap to reach) must be a positive number.")
        if n_steps < 2 * START_PANELS + 1:
            raise InputError(f"Adaptive Integrated Gradients needs at least {2 * START_PANELS + 1} steps.")
        return _adaptive_ig(batch, base, float(tol), n_steps, baseline)
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


def _path_contributions(batch: BatchInput, base: torch.Tensor, alphas: list[float]) -> torch.Tensor:
    """[points, b, w]: ∂f/∂e · (x − baseline) summed over the embedding, at baseline + α(x − baseline)."""
    x, args = batch.embeds, batch.args()
    diff = x - base
    b = len(batch)
    out = []
    per_pass = max(1, (IG_BATCH if b == 1 else IG_ROWS) // b)
    for start in range(0, len(alphas), per_pass):
        chunk = torch.tensor(alphas[start:start + per_pass], dtype=x.dtype, device=x.device)
        points = (base[None] + chunk[:, None, None, None] * diff[None]).reshape(-1, *x.shape[1:])
        expanded = [None if a is None else a.repeat(len(chunk), *([1] * (a.dim() - 1))) for a in args]
        with torch.enable_grad():
            points.requires_grad_(True)
            (grad,) = torch.autograd.grad(batch.forward(points, *expanded).sum(), points)
        out.append((grad.view(len(chunk), *x.shape) * diff[None]).sum(-1).detach().double())
    return torch.cat(out)


def _adaptive_ig(batch: BatchInput, base: torch.Tensor, tol: float, max_steps: int, baseline: str):
    """IG by adaptive composite Simpson on dyadic points until every row's completeness gap is ≤ tol."""
    f_x, f_base = batch.outputs(), batch.outputs(base)
    target = torch.as_tensor(f_x - f_base, dtype=torch.float64)  # [b] the exact value of the path integral
    width = GRID // START_PANELS
    panels = [(i * width, (i + 1) * width) for i in range(START_PANELS)]
    contrib: dict[int, torch.Tensor] = {}  # grid point → [b, w]

    def evaluate(points):
        todo = sorted(p for p in set(points) if p not in contrib)
        if todo:
            values = _path_contributions(batch, base, [p / GRID for p in todo])
            contrib.update(zip(todo, values))

    def simpson(lo, hi):  # [b, w] one panel's Simpson and trapezoid (with midpoint) estimates
        h, mid = (hi - lo) / GRID, (lo + hi) // 2
        ends = contrib[lo] + contrib[hi]
        return h / 6 * (ends + 4 * contrib[mid]), h / 4 * (ends + 2 * contrib[mid])

    evaluate([p for lo, hi in panels for p in (lo, (lo + hi) // 2, hi)])
    while True:
        estimates = [simpson(lo, hi) for lo, hi in panels]
        attr = sum(s for s, _ in estimates)
        gap = attr.sum(-1) - target
        reached = bool((gap.abs() <= tol).all())
        open_rows = gap.abs() > tol
        errors = [float((s - t).sum(-1).abs()[open_rows].sum()) if hi - lo >= 4 else -1.0
                  for (s, t), (lo, hi) in zip(estimates, panels)]
        budget = (max_steps - len(contrib)) // 2
        if reached or budget < 1 or max(errors) < 0:
            break
        split = set(sorted(range(len(panels)), key=lambda i: -errors[i])[:min(SPLIT_PANELS, budget)])
        split = {i for i in split if errors[i] >= 0}
        new = []
        for i, (lo, hi) in enumerate(panels):
            mid = (lo + hi) // 2
            new += [(lo, mid), (mid, hi)] if i in split else [(lo, hi)]
        panels = new
        evaluate([p for lo, hi in panels for p in (lo, (lo + hi) // 2, hi)])
    settings = {"tol": tol, "steps_used": len(contrib), "max_steps": max_steps, "tol_reached": reached,
                "baseline": f"{baseline} token (specials kept)",
                "method": "adaptive Simpson on nested dyadic points (gradients reused)"}
    return [MethodOutput(scores, dict(settings), delta=float(gap[j]), baseline_output=float(f_base[j]))
            for j, scores in enumerate(batch.per_row(attr))]


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
