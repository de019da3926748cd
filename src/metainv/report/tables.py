"""Paper tables from per-image metrics: mean ± std over the validation images, paper alongside.

A table spec (``config.tables.<n>``) lists rows, each naming an experiment and the paper's
(method, setting) it reproduces, plus the metrics to show. Experiments that were not run
(absent from the configuration or disabled) appear as "not run"; metrics missing from an
experiment's metrics.csv as "unavailable".
Nothing is ever filled in from the paper.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import pandas as pd

from metainv.atomic import write_csv, write_text
from metainv.report.paper import paper_value

INPUT_LABEL = "Input (y)"


def _fmt(metric: str, value: float) -> str:
    if metric == "MSE":
        return f"{value:.2e}"
    if metric.startswith("LPIPS"):
        return f"{value:.4f}"  # as the paper prints it
    if metric == "PSNR":
        return f"{value:.2f}"
    return f"{value:.3f}"


def summarise(metrics: pd.DataFrame, metric: str, prefix: str = "") -> tuple[float, float, int]:
    col = prefix + metric
    if col not in metrics:
        return math.nan, math.nan, 0
    values = metrics[col].astype(float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, int(values.count())


def build_table(number: int | str, spec: Mapping, metrics_files: Mapping[str, str | Path]) -> pd.DataFrame:
    """Long-format table: one row per (label, metric) with ours, std, n and the paper value.

    ``metrics_files`` maps experiment id → its ``metrics.csv`` (experiments that ran).
    """
    records = []
    loaded = {exp: pd.read_csv(path) for exp, path in metrics_files.items()}
    input_done = False
    for row in spec["rows"]:
        exp = row.get("experiment")
        frame = loaded.get(exp)
        if frame is not None and not input_done and spec.get("show_input", True):
            for metric in spec["metrics"]:
                mean, std, n = summarise(frame, metric, prefix="input_")
                records.append({"label": INPUT_LABEL, "experiment": exp, "metric": metric,
                                "mean": mean, "std": std, "n": n, "paper": math.nan,
                                "status": "ok" if n else "unavailable"})
            input_done = True
        for metric in spec["metrics"]:
            paper = paper_value(spec["paper_table"], row["paper_method"], row.get("paper_setting", ""), metric)
            rec = {"label": row["label"], "experiment": exp, "metric": metric,
                   "paper": math.nan if paper is None else paper}
            if frame is None:
                rec.update(mean=math.nan, std=math.nan, n=0, status="not run")
            else:
                mean, std, n = summarise(frame, metric)
                rec.update(mean=mean, std=std, n=n, status="ok" if n else "unavailable")
            records.append(rec)
    df = pd.DataFrame.from_records(records)
    df.insert(0, "table", str(number))
    df["delta"] = df["mean"] - df["paper"]
    return df


def to_markdown(df: pd.DataFrame, title: str) -> str:
    """Wide markdown: rows × metrics, each cell ``ours ± std (paper p)``."""
    metrics = list(dict.fromkeys(df.metric))
    lines = [f"# {title}", "", "| | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for label, group in df.groupby("label", sort=False):
        cells = []
        for metric in metrics:
            r = group[group.metric == metric].iloc[0]
            if r.status == "ok":
                cell = f"{_fmt(metric, r['mean'])} ± {_fmt(metric, r['std'])}"
            else:
                cell = r.status
            if not math.isnan(r.paper):
                cell += f" (paper {_fmt(metric, r.paper)})"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    n = int(df[df.status == "ok"].n.max()) if (df.status == "ok").any() else 0
    lines += ["", f"Mean ± standard deviation over {n} validation images; the paper's value in "
              "parentheses. *unavailable*: metric not in the experiment's metrics.csv; "
              "*not run*: experiment not part of this configuration."]
    return "\n".join(lines) + "\n"


def write_table(number: int | str, spec: Mapping, metrics_files: Mapping[str, str | Path],
                out_csv: str | Path, out_md: str | Path) -> pd.DataFrame:
    df = build_table(number, spec, metrics_files)
    write_csv(out_csv, df)
    write_text(out_md, to_markdown(df, spec.get("title", f"Table {number}")))
    return df
