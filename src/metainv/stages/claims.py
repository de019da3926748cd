"""Stage ``claims``: each qualitative claim of the paper as a paired comparison of two
experiments over the validation images → ``results/claims/claims.csv`` and ``results/claims/claims.md``.

A claim (``config.claims``, resolved by :func:`metainv.config.claims`) names A, B, a metric
of ``metrics.csv`` and the claimed sign of mean(A − B). Per comparison: n, the two means, the
paired mean difference, its 95 % percentile-bootstrap interval (seeded) and A's win rate,
from :func:`metainv.stats.paired_bootstrap`; verdict *reproduced* / *contradicted* /
*inconclusive*, or *not run* (an experiment absent or disabled) / *unavailable* (the metric
is not in a metrics.csv).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from metainv.atomic import write_csv, write_text
from metainv.stats import CONFIDENCE, N_RESAMPLES, paired_bootstrap

log = logging.getLogger(__name__)

COLUMNS = ["id", "statement", "a", "b", "metric", "direction", "verdict", "n", "mean_a", "mean_b",
           "mean_diff", "ci_low", "ci_high", "frac_a_wins"]


def compare(claim: Mapping, frames: Mapping[str, pd.DataFrame], seed: int = 0) -> dict:
    """One comparison row: statistics of A − B on ``claim['metric']``, paired by image index."""
    row = {k: claim[k] for k in ("id", "statement", "a", "b", "metric", "direction")}
    a, b, metric = frames.get(claim["a"]), frames.get(claim["b"]), claim["metric"]
    if a is None or b is None:
        return {**row, "verdict": "not run"}
    if metric not in a or metric not in b:
        return {**row, "verdict": "unavailable"}
    paired = a[["index", metric]].merge(b[["index", metric]], on="index", suffixes=("_a", "_b"))
    if len(paired) != len(a) or len(paired) != len(b):
        raise ValueError(f"claim {claim['id']}: {claim['a']} and {claim['b']} scored different images")
    stats = paired_bootstrap(paired[f"{metric}_a"], paired[f"{metric}_b"], claim["direction"], seed=seed)
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
    for r in df.itertuples(index=False):
        sign = ">" if r.direction == "greater" else "<"
        if r.verdict in ("not run", "unavailable"):
            stats = ["–"] * 5
        else:
            m = r.metric
            stats = [str(int(r.n)), _fmt(r.mean_a, m), _fmt(r.mean_b, m),
                     f"{_fmt_diff(r.mean_diff, m)} [{_fmt_diff(r.ci_low, m)}, {_fmt_diff(r.ci_high, m)}]",
                     f"{100 * r.frac_a_wins:.0f} %"]
        lines.append(f"| {r.statement} | {r.a} {sign} {r.b} | {r.metric} | " + " | ".join(stats)
                     + f" | **{r.verdict}** |")
    lines += ["", f"Paired over the validation images (A − B per image). Interval: percentile "
              f"bootstrap of the mean difference, {N_RESAMPLES:,} resamples, {100 * CONFIDENCE:.0f} %, "
              "seeded. *reproduced*: the interval excludes 0 on the claimed side; *contradicted*: it "
              "excludes 0 on the other side; *inconclusive*: it contains 0. *A wins*: share of images "
              "where A beats B in the claimed direction. A verdict says whether the sign is resolved, "
              "not whether the effect is large: read it with the difference. *not run*: an experiment is not part of "
              "this configuration (absent or disabled); *unavailable*: the metric was not computed."]
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
