"""Small statistics shared by the bias probes: bootstrap confidence intervals with a fixed seed."""

from __future__ import annotations

import numpy as np

DEFAULT_RESAMPLES = 2_000
DEFAULT_SEED = 0


def bootstrap_ci(values, *, confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                 seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaNs dropped), reproducible by ``seed``.

    Resample the units given (pass one value per independent unit, e.g. per template, not per
    sentence). One value gives a zero-width interval; none gives (nan, nan).

    Example:
        >>> bootstrap_ci([0.1, 0.4, 0.3, 0.2])      # (low, high) around the mean 0.25
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // x.size)
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        means[start:stop] = x[rng.integers(0, x.size, size=(stop - start, x.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def holm_bonferroni(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order.

    The sent-bias paper tables apply Holm–Bonferroni at α = 0.01 across the tests of one model.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted
