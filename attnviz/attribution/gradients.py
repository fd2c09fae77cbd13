"""Gradient methods on the input embeddings: IG, saliency, input×gradient (batched), GradientSHAP.

They differentiate f with respect to ``inputs_embeds`` — no layer hooks on the shared model. The first
three take a :class:`~attnviz.attribution.batch.BatchInput` and return one output per row: a single text
is a batch of one, and audits and bias probes call the very same functions on their batches.
"""

from __future__ import annotations

import torch
from captum.attr import GradientShap, IntegratedGradients
from captum.attr._utils.approximation_methods import gauss_legendre_builders

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
#: Adaptive IG: Gauss-Legendre rules of these many points, tried in turn until the gap is ≤ tol. 20 points
#: (one pass) reach 1e-2 on 19 of 21 test sentences (MiniLM, zero-shot p; worst 1.2e-2); each later rung is
#: ~1.4x larger. Gauss-Legendre nodes do not nest, so a later rung recomputes every point (reported in
#: steps_used): on this integrand 20 Gauss-Legendre points beat any nested rule we tried (bench/README.md).
LADDER = (20, 28, 40, 56, 80, 112, 160, 224, 320)
MIN_ADAPTIVE_STEPS = 9


def integrated_gradients(batch: BatchInput, *, n_steps: int | None = None, tol: float | None = None,
                         baseline: str = "pad", method: str = "gausslegendre",
                         internal_batch_size: int | None = None) -> list[MethodOutput]:
    """IG along the straight line from a baseline (non-special tokens → ``baseline`` token) to x.

    Completeness: Σφ ≈ f(x) − f(baseline); the gap is reported as ``delta``.

    Two ways to choose the steps:
        * ``tol`` (the default when neither is given: ``DEFAULT_TOL``): Gauss-Legendre rules of
          :data:`LADDER` points in turn (20 first, in one pass) until every row's gap is ≤ ``tol`` (the
          gap is known exactly: f(x) and f(baseline) are computed) or ``n_steps`` points in all (default
          128) are spent. Settings report ``steps_used`` (all rungs) and whether ``tol_reached``.
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
        if n_steps < MIN_ADAPTIVE_STEPS:
            raise InputError(f"Adaptive Integrated Gradients needs at least {MIN_ADAPTIVE_STEPS} steps.")
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


def _path_contributions(batch: BatchInput, base: torch.Tensor, alphas) -> torch.Tensor:
    """[points, b, w]: ∂f/∂e · (x − baseline) summed over the embedding, at baseline + α(x − baseline).

    The points are split into equal passes of at most IG_BATCH (one text) or IG_ROWS // b steps."""
    x, args = batch.embeds, batch.args()
    diff = x - base
    b = len(batch)
    alphas = list(alphas)
    most = max(1, (IG_BATCH if b == 1 else IG_ROWS) // b)
    per_pass = -(-len(alphas) // -(-len(alphas) // most))  # equal passes: 28 points → 2 × 14, not 25 + 3
    out = []
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
    """IG by Gauss-Legendre rules of growing size (:data:`LADDER`) until every row's gap is ≤ tol."""
    f_x, f_base = batch.outputs(), batch.outputs(base)
    target = torch.as_tensor(f_x - f_base, dtype=torch.float64)  # [b] the exact value of the path integral
    weights_of, alphas_of = gauss_legendre_builders()
    used, last, rungs = 0, 0, []
    for rung in LADDER:
        n = min(rung, max_steps - used)
        if n <= last:
            break
        weights = torch.tensor(weights_of(n), dtype=torch.float64)
        contrib = _path_contributions(batch, base, alphas_of(n))  # [n, b, w]
        attr = torch.einsum("p,pbw->bw", weights, contrib)
        gap = attr.sum(-1) - target
        used, last = used + n, n
        rungs.append(n)
        if bool((gap.abs() <= tol).all()):
            break
    reached = bool((gap.abs() <= tol).all())
    settings = {"tol": tol, "steps_used": used, "max_steps": max_steps, "tol_reached": reached,
                "rungs": rungs, "baseline": f"{baseline} token (specials kept)",
                "method": f"Gauss-Legendre, {last} points (the first of {', '.join(map(str, LADDER[:3]))}, … "
                          "points to reach tol)"}
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
