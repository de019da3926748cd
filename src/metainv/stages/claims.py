"""Stage ``claims``: each qualitative claim of the paper as a paired comparison of two
experiments over the validation images → ``results/claims/claims.csv`` and ``results/claims/claims.md``.

A claim (``config.claims``, resolved by :func:`metainv.config.claims`) names A, B, a metric
of ``metrics.csv`` and the claimed sign of mean(A − B). A and B are paired by image index
first (they must score the same images); an image with a non-finite score on either side is
then dropped from both (``n_dropped``, logged with the image indices and noted in claims.md).
Per comparison: n, the two means, the paired mean difference, its 95 % percentile-bootstrap
interval (seeded) and A's win rate, from :func:`metainv.stats.paired_bootstrap`; verdict
*reproduced* / *contradicted* / *inconclusive*, or *not run* (an experiment absent or
disabled) / *unavailable* (the metric is not in a metrics.csv, or no image has a finite
score in both).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from metainv.atomic import write_csv, write_text
from metainv.stats import CONFIDENCE, N_RESAMPLES, paired_bootstrap

log = logging.getLogger(__name__)

COLUMNS = ["id", "statement", "a", "b", "metric", "direction", "verdict", "n", "n_dropped", "mean_a", "mean_b",
           "mean_diff", "ci_low", "ci_high", "frac_a_wins"]


def compare(claim: Mapping, frames: Mapping[str, pd.DataFrame], seed: int = 0) -> dict:
    """One comparison row: statistics of A − B on ``claim['metric']``, paired by image index
    (then pairs with a non-finite side dropped from both sides, and counted)."""
    row = {k: claim[k] for k in ("id", "statement", "a", "b", "metric", "direction")}
    a, b, metric = frames.get(claim["a"]), frames.get(claim["b"]), claim["metric"]
    if a is None or b is None:
        return {**row, "verdict": "not run"}
    if metric not in a or metric not in b:
        return {**row, "verdict": "unavailable"}
    paired = a[["index", metric]].merge(b[["index", metric]], on="index", suffixes=("_a", "_b"))
    if len(paired) != len(a) or len(paired) != len(b):
        raise ValueError(f"claim {claim['id']}: {claim['a']} and {claim['b']} scored different images")
    score_a, score_b = (paired[f"{metric}_{side}"].to_numpy(np.float64) for side in "ab")
    bad = ~(np.isfinite(score_a) & np.isfinite(score_b))
    if bad.any():
        log.warning("claim %s: %d of %d images dropped from both %s and %s, a non-finite %s in one of "
                    "them (image index %s)", claim["id"], bad.sum(), len(bad), claim["a"], claim["b"], metric,
                    ", ".join(str(i) for i in paired["index"][bad]))
    stats = paired_bootstrap(score_a, score_b, claim["direction"], seed=seed)
    return {**row, **stats.as_dict()}


def _fmt(value: float, metric: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "–"
    if metric == "MSE":
        return f"{value:.2e}"
    return f"{value:.2f}" if metric == "PSNR" else f"{value:.4f}"


def _fmt_diff(value: float, metric: str) -> str:
    """A difference: as :func:`_fmt`, but small ones with two significant digits, so an
    effect of 0.002 dB does not print as 0.00."""
    if isinstance(value, float) and not math.isnan(value) and metric != "MSE" and 0 < abs(value) < 0.01:
        return f"{value:.2g}"
    return _fmt(value, metric)


def to_markdown(df: pd.DataFrame) -> str:
    """One line per comparison: statement, A vs B, means, difference [interval], wins, verdict."""
    lines = ["# Claims of the paper, checked on this run", "",
             "| claim | A vs B | metric | n | mean A | mean B | A − B [95 % CI] | A wins | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for r in df.itertuples(index=False):
        sign = ">" if r.direction == "greater" else "<"
        if pd.isna(r.n):  # not run, or the metric is missing
            stats = ["–"] * 5
        else:
            m, n, dropped = r.metric, int(r.n), int(r.n_dropped)
            interval = (f"[{_fmt_diff(r.ci_low, m)}, {_fmt_diff(r.ci_high, m)}]" if n >= 2
                        else f"[no interval: n = {n}]")
            stats = [f"{n} ({dropped} dropped)" if dropped else str(n), _fmt(r.mean_a, m), _fmt(r.mean_b, m),
                     f"{_fmt_diff(r.mean_diff, m)} {interval}",
                     "–" if n == 0 else f"{100 * r.frac_a_wins:.0f} %"]
            if dropped:
                notes.append(f"- {r.statement} ({r.a} vs {r.b}, {m}): {dropped} of {n + dropped} images dropped "
                             f"from both sides, a non-finite {m} in A or B (the log names them).")
        lines.append(f"| {r.statement} | {r.a} {sign} {r.b} | {r.metric} | " + " | ".join(stats)
                     + f" | **{r.verdict}** |")
    lines += ["", f"Paired over the validation images (A − B per image). Interval: percentile "
              f"bootstrap of the mean difference, {N_RESAMPLES:,} resamples, {100 * CONFIDENCE:.0f} %, "
              "seeded. *reproduced*: the interval excludes 0 on the claimed side; *contradicted*: it "
              "excludes 0 on the other side; *inconclusive*: it contains 0 (an end at 0 included). "
              "*A wins*: share of images where A beats B in the claimed direction. A verdict says whether the sign is resolved, "
              "not whether the effect is large: read it with the difference. *not run*: an experiment is not part of "
              "this configuration (absent or disabled); *unavailable*: the metric was not computed, or no image "
              "has a finite score in both A and B. An image with a non-finite score (NaN, ±inf) in A or B is "
              "dropped from both sides (*dropped* after n); with one image left there is no interval "
              "(inconclusive)."]
    if notes:
        lines += ["", "Dropped images:", ""] + notes
    return "\n".join(lines) + "\n"


def claims(comparisons: Sequence[Mapping], metrics: Mapping[str, str | Path], out_csv: str | Path,
           out_md: str | Path, seed: int = 0) -> pd.DataFrame:
    """Write claims.csv / claims.md. ``comparisons``: :func:`metainv.config.claims`;
    ``metrics``: experiment id → metrics.csv of the experiments that ran."""
    frames = {eid: pd.read_csv(path) for eid, path in metrics.items()}
    df = pd.DataFrame([compare(c, frames, seed) for c in comparisons], columns=COLUMNS)
    write_csv(out_csv, df)
    write_text(out_md, to_markdown(df))
    log.info("claims: %s", df.verdict.value_counts().to_dict())
    return df


__all__ = ["claims", "compare", "to_markdown", "COLUMNS"]
