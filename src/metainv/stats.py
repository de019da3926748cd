"""Paired comparisons of two methods over the same images: the statistics behind claims.

For per-image scores a_i, b_i of methods A and B on the same n images, the paired difference
d_i = a_i − b_i; its mean d̄ is the effect, and a percentile bootstrap (Efron & Tibshirani
1993, §13; ``scipy.stats.bootstrap``, images resampled with replacement) gives its 95 %
interval. A claim "A > B" (``direction: greater``) is *reproduced* when the interval lies
above 0, *contradicted* when it lies below 0, and *inconclusive* otherwise, an interval that
touches 0 included ("A < B", ``direction: less``, mirrored).

An image whose score is not finite in A or in B (NaN, ±inf: a diverged reconstruction) is
dropped from both sides, so the remaining scores stay paired; the count is ``n_dropped``.
With one image left there is no interval (*inconclusive*); with none, no data
(*unavailable*).
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
    """A − B over ``n`` paired images (``n_dropped`` more had a non-finite score): means, mean
    difference, its interval, A's win rate."""

    n: int
    n_dropped: int
    mean_a: float
    mean_b: float
    mean_diff: float
    ci_low: float
    ci_high: float
    frac_a_wins: float  # fraction of images where A beats B in the claimed direction
    verdict: str

    def as_dict(self) -> dict:
        return asdict(self)


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


def verdict(ci_low: float, ci_high: float, direction: str) -> str:
    """reproduced / contradicted / inconclusive for an interval of mean(A − B): only an
    interval strictly on one side of 0 resolves the sign (no interval: inconclusive)."""
    _check_direction(direction)
    if math.isnan(ci_low) or math.isnan(ci_high):
        return "inconclusive"
    above, below = ci_low > 0, ci_high < 0
    if direction == "less":
        above, below = below, above
    return "reproduced" if above else "contradicted" if below else "inconclusive"


def paired_bootstrap(a, b, direction: str = "greater", n_resamples: int = N_RESAMPLES,
                     confidence: float = CONFIDENCE, seed: int = 0) -> PairedComparison:
    """Mean of a − b (paired: ``a[i]`` and ``b[i]`` score the same image) with its percentile
    bootstrap interval; seeded, so the same inputs give the same interval. Pairs with a
    non-finite side are dropped from both sides and counted."""
    _check_direction(direction)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores must be two 1-D arrays of one length, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    n_dropped = int((~keep).sum())
    a, b = a[keep], b[keep]
    d = a - b
    n = len(d)
    if n == 0:
        return PairedComparison(0, n_dropped, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan,
                                "unavailable")
    if n < 2 or np.all(d == d[0]):
        low = high = float(d[0]) if n >= 2 else math.nan  # no spread: the interval is the point
    else:
        res = bootstrap((d,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
                        method="percentile", random_state=np.random.default_rng(seed), vectorized=True)
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    wins = d > 0 if direction == "greater" else d < 0
    return PairedComparison(n, n_dropped, float(a.mean()), float(b.mean()), float(d.mean()), low, high,
                            float(wins.mean()), verdict(low, high, direction))


__all__ = ["PairedComparison", "paired_bootstrap", "verdict", "DIRECTIONS", "N_RESAMPLES", "CONFIDENCE"]
