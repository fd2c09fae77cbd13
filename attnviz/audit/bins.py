"""Fixed-width histograms that merge: what a streamed audit keeps of per-example numbers past
:data:`EXACT_ROWS` examples (memory O(bins), not O(rows)). Box plots read quartiles and whiskers from them.
"""

from __future__ import annotations

import numpy as np

#: Per-example values are kept exactly up to this many examples; past it, in :class:`Bins`.
EXACT_ROWS = 20_000
BINS = 2000


class Bins:
    """Counts of values in ``bins`` equal-width bins over [lo, hi] (plus one below and one above), with the
    exact count, sum, minimum and maximum. ``quantile`` is exact to one bin width (≤ (hi − lo) / bins)."""

    def __init__(self, lo: float, hi: float, bins: int = BINS):
        if not hi > lo:
            lo, hi = lo - 0.5, lo + 0.5
        self.lo, self.hi, self.bins = float(lo), float(hi), int(bins)
        self.counts = np.zeros(self.bins + 2, dtype=np.int64)  # [below, bins…, above]
        self.count, self.sum, self.min, self.max = 0, 0.0, np.inf, -np.inf

    @classmethod
    def spanning(cls, values, bins: int = BINS, margin: float = 0.1) -> Bins:
        """Bins over the range of ``values`` widened by ``margin`` of it on each side (later values may fall outside)."""
        v = _finite(values)
        v = v[np.isfinite(v)]
        lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
        pad = (hi - lo) * margin
        return cls(lo - pad, hi + pad, bins).add(v)

    def add(self, values, weights=None) -> Bins:
        """Count ``values`` (None and NaN are left out), each ``weights`` times (default once)."""
        v = _finite(values)
        w = np.ones(len(v), dtype=np.int64) if weights is None else np.asarray(weights, dtype=np.int64)
        keep = np.isfinite(v) & (w > 0)
        v, w = v[keep], w[keep]
        if len(v):
            index = np.floor((v - self.lo) / (self.hi - self.lo) * self.bins).astype(np.int64)
            np.add.at(self.counts, np.clip(index, -1, self.bins) + 1, w)
            self.count += int(w.sum())
            self.sum += float((v * w).sum())
            self.min, self.max = min(self.min, float(v.min())), max(self.max, float(v.max()))
        return self

    def merge(self, other: Bins) -> Bins:
        if (other.lo, other.hi, other.bins) == (self.lo, self.hi, self.bins):
            self.counts += other.counts
            self.count += other.count
            self.sum += other.sum
            self.min, self.max = min(self.min, other.min), max(self.max, other.max)
            return self
        # other bins: their counts re-binned at their centres (below/above at their minimum/maximum)
        total = self.sum + other.sum
        centres = np.concatenate([[other.min], other.lo + (np.arange(other.bins) + 0.5) * other.width, [other.max]])
        self.add(centres, other.counts)
        self.sum = total  # the sum stays exact
        return self

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.bins

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else float("nan")

    def quantile(self, q: float) -> float:
        """The q-quantile, linear within its bin, clipped to [min, max]."""
        if not self.count:
            return float("nan")
        rank = q * self.count
        cumulative = np.cumsum(self.counts)
        k = int(np.searchsorted(cumulative, rank, side="left"))
        if k == 0:
            return self.min
        if k == self.bins + 1:
            return self.max
        before = cumulative[k - 1]
        inside = self.counts[k]
        left = self.lo + (k - 1) * self.width
        value = left + self.width * ((rank - before) / inside if inside else 0.5)
        return float(np.clip(value, self.min, self.max))

    def box(self) -> dict:
        """q1, median, q3, mean and Tukey's whiskers (the most extreme values within 1.5 IQR, to a bin)."""
        q1, median, q3 = (self.quantile(q) for q in (0.25, 0.5, 0.75))
        iqr = q3 - q1
        return {"count": self.count, "q1": q1, "median": median, "q3": q3, "mean": self.mean,
                "lowerfence": max(self.min, q1 - 1.5 * iqr), "upperfence": min(self.max, q3 + 1.5 * iqr)}

    def histogram(self, bars: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """(edges, counts) of about ``bars`` bars over [lo, hi] (values below or above in the first or last)."""
        group = max(1, self.bins // bars)
        inner = self.counts[1:-1]
        counts = np.add.reduceat(inner, np.arange(0, self.bins, group))
        counts[0] += self.counts[0]
        counts[-1] += self.counts[-1]
        edges = self.lo + np.arange(0, self.bins + 1, group) * self.width
        edges = np.append(edges, self.hi) if len(edges) == len(counts) else edges
        return edges, counts


def _finite(values) -> np.ndarray:
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64) \
        if not isinstance(values, np.ndarray) else values.astype(np.float64)
    return v
