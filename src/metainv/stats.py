"""Paired comparisons of two methods over the same images: the statistics behind claims.

For per-image scores a_i, b_i of methods A and B on the same n images, the paired difference
d_i = a_i − b_i; its mean d̄ is the effect, and a percentile bootstrap (Efron & Tibshirani
1993, §13; ``scipy.stats.bootstrap``, images resampled with replacement) gives its 95 %
interval. A claim "A > B" (``direction: greater``) is *reproduced* when the interval lies
above 0, *contradicted* when it lies below 0, and *inconclusive* otherwise ("A < B",
``direction: less``, mirrored).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import bootstrap

DIRECTIONS = ("greater", "less")
N_RESAMPLES = 10_000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairedComparison:
    """A − B over ``n`` paired images: means, mean difference, its interval, A's win rate."""

    n: int
    mean_a: float
    mean_b: float
    mean_diff: float
    ci_low: float
    ci_high: float
    frac_a_wins: float  # fraction of images where A beats B in the claimed direction
    verdict: str

    def as_dict(self) -> dict:
        return asdict(self)


def verdict(ci_low: float, ci_high: float, direction: str) -> str:
    """reproduced / contradicted / inconclusive for an interval of mean(A − B)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "inconclusive"
    above, below = ci_low > 0, ci_high < 0
    if direction == "less":
        above, below = below, above
    return "reproduced" if above else "contradicted" if below else "inconclusive"


def paired_bootstrap(a, b, direction: str = "greater", n_resamples: int = N_RESAMPLES,
                     confidence: float = CONFIDENCE, seed: int = 0) -> PairedComparison:
    """Mean of a − b (paired, same images in the same order) with its percentile bootstrap
    interval; seeded, so the same inputs give the same interval."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores must be two 1-D arrays of one length, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    d = a - b
    n = len(d)
    if n == 0:
        return PairedComparison(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, "inconclusive")
    if n < 2 or np.all(d == d[0]):
        low = high = float(d[0]) if n >= 2 else math.nan  # no spread: the interval is the point
    else:
        res = bootstrap((d,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
                        method="percentile", random_state=np.random.default_rng(seed), vectorized=True)
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    wins = d > 0 if direction == "greater" else d < 0
    return PairedComparison(n, float(a.mean()), float(b.mean()), float(d.mean()), low, high,
                            float(wins.mean()), verdict(low, high, direction))


__all__ = ["PairedComparison", "paired_bootstrap", "verdict", "DIRECTIONS", "N_RESAMPLES", "CONFIDENCE"]
