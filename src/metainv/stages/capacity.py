"""Stage ``capacity``: validation scores against the number of values the inner loop adapts per
image (paper §5's hypothesis; not in the paper; issue 23, docs: beyond).

For each point of ``config.capacity_studies.<name>`` (a meta experiment) the adapted values per
image come from its spec (:func:`metainv.meta.model.inner_loop_capacity`: every SIREN weight, the
last layers, or a FiLM latent); its per-image scores from its ``metrics.csv``; each point is
paired image by image against every reference (:func:`metainv.stats.paired_bootstrap`, 95 %
percentile interval of the mean difference, seeded; better = higher PSNR / SSIM, lower MSE /
LPIPS).

``<name>.csv`` (this module owns it), one row per (point or reference, metric, reference)::

    label, experiment, role (point | reference), family, description, adapted, metric, n, mean, std,
    reference, mean_diff, ci_low, ci_high, frac_better, verdict

(``reference`` and the columns after it are empty on a reference's own rows and for a study
without references; a point that is itself the reference has verdict ``is the reference``), ``<name>.md`` (one table per metric) and the figure
(:func:`metainv.report.figures.plot_capacity`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Mapping

import pandas as pd

from metainv.atomic import write_csv, write_text
from metainv.errors import MetainvError
from metainv.meta.model import inner_loop_capacity
from metainv.report.figures import plot_capacity
from metainv.report.tables import HIGHER_IS_BETTER
from metainv.stats import paired_bootstrap

log = logging.getLogger(__name__)

COLUMNS = ("label", "experiment", "role", "family", "description", "adapted", "metric", "n", "mean", "std",
           "reference", "mean_diff", "ci_low", "ci_high", "frac_better", "verdict")
def better(metric: str) -> str:
    """The direction of an improvement in ``metric`` (the tables' ``HIGHER_IS_BETTER``; LPIPS
    lower): ``greater`` or ``less``."""
    return "greater" if HIGHER_IS_BETTER.get(metric, False) else "less"


def _scores(frames: Mapping[str, pd.DataFrame], eid: str, metric: str) -> pd.Series:
    frame = frames[eid]
    if metric not in frame:
        raise MetainvError(f"capacity study: {eid}'s metrics.csv has no {metric} column (a table or claim "
                           "asks for LPIPS; add the metric to one)")
    return frame.set_index("index")[metric]


def study_rows(spec: Mapping, frames: Mapping[str, pd.DataFrame], seed: int = 0) -> pd.DataFrame:
    """The rows of ``<name>.csv`` (see the module docstring) from the spec
    (:func:`metainv.config.capacity_spec`) and the experiments' metrics frames by id."""
    rows = []
    references = spec["references"]
    for label, exp in spec["experiments"].items():
        adapted, family, description = inner_loop_capacity(exp)
        if exp["eval"]["data_consistency"]:
            family, description = f"{family} + DC", f"{description}, observed pixels kept"
        for metric in spec["metrics"]:
            a = _scores(frames, exp["id"], metric)
            base = {"label": label, "experiment": exp["id"], "role": "point", "family": family,
                    "description": description, "adapted": adapted, "metric": metric, "n": int(a.notna().sum()),
                    "mean": float(a.mean()), "std": float(a.std())}
            if not references:
                rows.append(base)
            for ref_label, ref in references.items():
                if ref == exp["id"]:  # the point is the reference: no comparison
                    rows.append({**base, "reference": ref_label, "verdict": "is the reference"})
                    continue
                b = _scores(frames, ref, metric)
                if not a.index.equals(b.index):
                    raise MetainvError(f"capacity study: {exp['id']} and {ref} scored different images")
                stats = paired_bootstrap(a.to_numpy(), b.to_numpy(), better(metric), seed=seed)
                rows.append({**base, "reference": ref_label, "mean_diff": stats.mean_diff, "ci_low": stats.ci_low,
                             "ci_high": stats.ci_high, "frac_better": stats.frac_a_wins, "verdict": stats.verdict})
    for ref_label, ref in references.items():
        for metric in spec["metrics"]:
            b = _scores(frames, ref, metric)
            rows.append({"label": ref_label, "experiment": ref, "role": "reference", "metric": metric,
                         "n": int(b.notna().sum()), "mean": float(b.mean()), "std": float(b.std())})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _fmt(value: float, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if metric == "MSE":
        return f"{value:.2e}"
    return f"{value:.2f}" if metric == "PSNR" else f"{value:.4f}"


def to_markdown(frame: pd.DataFrame, title: str) -> str:
    """One table per metric: each point (adapted values, mean ± std, A − reference [95 % CI]),
    then the references' means."""
    lines = [f"# {title}", ""]
    refs = [r for r in dict.fromkeys(frame.reference.dropna()) if r]
    for metric, part in frame.groupby("metric", sort=False):
        lines += [f"## {metric}", "",
                  "| point | inner loop adapts | values per image | n | mean ± std | "
                  + " | ".join(f"− {r} [95 % CI]" for r in refs) + (" |" if refs else "|"),
                  "|---|---|---|---|---|" + "---|" * len(refs)]
        for label, rows in part[part.role == "point"].groupby("label", sort=False):
            r0 = rows.iloc[0]
            diffs = []
            for ref in refs:
                d = rows[rows.reference == ref]
                diffs.append("–" if d.empty or pd.isna(d.mean_diff.iloc[0]) else
                             f"{_fmt(d.mean_diff.iloc[0], metric)} [{_fmt(d.ci_low.iloc[0], metric)}, "
                             f"{_fmt(d.ci_high.iloc[0], metric)}] ({d.verdict.iloc[0].replace('reproduced', 'better').replace('contradicted', 'worse')})")
            lines.append(f"| {label} | {r0.description} | {int(r0.adapted):,} | {int(r0.n)} | "
                         f"{_fmt(r0['mean'], metric)} ± {_fmt(r0['std'], metric)} | " + " | ".join(diffs)
                         + (" |" if diffs else ""))
        for r in part[part.role == "reference"].itertuples(index=False):
            lines.append(f"| {r.label} (reference) | – | – | {int(r.n)} | {_fmt(r.mean, metric)} ± "
                         f"{_fmt(r.std, metric)} |" + " |" * len(refs))
        lines.append("")
    lines.append("Paired over the validation images (point − reference per image); interval: percentile "
                 "bootstrap of the mean difference, 10,000 resamples, 95 %, seeded. *better* / *worse*: the "
                 "interval excludes 0 on that side; *inconclusive*: it contains 0. Not in the paper (§5's "
                 "hypothesis).")
    return "\n".join(lines) + "\n"


def capacity(spec: Mapping, metrics: Mapping[str, str | Path], out_csv: str | Path, out_md: str | Path,
             out_png: str | Path, seed: int = 0) -> Path:
    """Write ``<name>.csv``, ``<name>.md`` and the figure. ``metrics``: experiment id → metrics.csv
    of every point and reference of ``spec``."""
    if not spec["experiments"]:
        raise MetainvError("capacity study: no enabled meta experiment to place")
    needed = {exp["id"] for exp in spec["experiments"].values()} | set(spec["references"].values())
    missing = sorted(needed - set(metrics))
    if missing:
        raise MetainvError(f"capacity study: no metrics.csv given for {', '.join(missing)} (--metrics ID=PATH)")
    frames = {eid: pd.read_csv(metrics[eid]) for eid in needed}
    frame = study_rows(spec, frames, seed)
    write_csv(out_csv, frame)
    write_text(out_md, to_markdown(frame, spec["title"]))
    for r in frame[(frame.role == "point") & (frame.metric == spec["metrics"][0])].drop_duplicates("label").itertuples():
        log.info("%s (%s, %d values): %s %.4g", r.label, r.description, r.adapted, r.metric, r.mean)
    return plot_capacity(frame, out_png, spec["title"])


__all__ = ["capacity", "study_rows", "to_markdown", "better", "COLUMNS"]
