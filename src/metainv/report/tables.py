"""Paper tables from per-image metrics: mean ± std over the validation images, paper alongside.

A table spec (``config.tables.<n>``) lists rows, each naming an experiment and the paper's
(method, setting) it reproduces, plus the metrics to show. Experiments that were not run
(absent from the configuration or disabled) appear as "not run"; metrics missing from an
experiment's metrics.csv as "unavailable".
Nothing is ever filled in from the paper.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Mapping

import pandas as pd

from metainv.specs import validate_model
from metainv.specs.config import Table
from metainv.atomic import write_csv, write_text
from metainv.metrics import SSIM_CONVENTION
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

    ``metrics_files`` maps experiment id → its ``metrics.csv`` (experiments that ran); ``spec``
    is a ``config.tables`` entry (:class:`metainv.specs.config.Table`, defaults filled here).
    """
    spec = validate_model(Table, spec, f"config.tables.{number}").model_dump(mode="json")
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
            paper = (None if spec["paper_table"] is None
                     else paper_value(spec["paper_table"], row["paper_method"], row["paper_setting"], metric))
            rec = {"label": row["label"], "experiment": exp, "metric": metric,
                   "paper": math.nan if paper is None else paper}
            if frame is None:
                rec.update(mean=math.nan, std=math.nan, n=0, status="not run")
            else:
                # a row with `input: true` shows its experiment's input y (input_* columns)
                mean, std, n = summarise(frame, metric, prefix="input_" if row.get("input") else "")
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
    paper = "; the paper's value in parentheses" if df.paper.notna().any() else ""
    lines += ["", f"Mean ± standard deviation over {n} validation images{paper}. *unavailable*: metric "
              "not in the experiment's metrics.csv; *not run*: experiment not part of this configuration."]
    if "SSIM" in metrics:
        lines += ["", SSIM_CONVENTION + "."]
    return "\n".join(lines) + "\n"


HIGHER_IS_BETTER = {"PSNR": True, "SSIM": True, "MSE": False}  # LPIPS_*: lower is better


def paper_format(metric: str, value: float) -> str:
    """A number as the paper prints it: PSNR 32.9, SSIM 0.967, MSE 6.8e-4, LPIPS 0.0226 /
    0.101 (three significant digits; below 0.01 as 5.6e-3)."""
    if math.isnan(value):
        return "--"
    if metric == "PSNR":
        return f"{value:.1f}"
    if metric == "SSIM":
        return f"{value:.3f}"
    if metric == "MSE" or abs(value) < 0.01:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"  # 6.8e-4, not 6.8e-04
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.3f}"


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "²": r"$^2$", "×": r"$\times$", "±": r"$\pm$", "σ": r"$\sigma$", "λ": r"$\lambda$",
                "θ": r"$\theta$", "α": r"$\alpha$", "–": "--", "—": "---"}


def _tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(char, char) for char in str(text))


def to_latex(df: pd.DataFrame, title: str, number: int | str) -> str:
    """Booktabs LaTeX: one row per method, per metric our mean and the paper's value, the best
    of our methods (input row excluded) in bold; numbers formatted as in the paper."""
    metrics = list(dict.fromkeys(df.metric))
    best = {}
    for metric in metrics:
        ours = df[(df.metric == metric) & (df.status == "ok") & (df.label != INPUT_LABEL)]
        if len(ours):
            pick = ours["mean"].idxmax() if HIGHER_IS_BETTER.get(metric, False) else ours["mean"].idxmin()
            best[metric] = paper_format(metric, df.loc[pick, "mean"])

    def head(metric: str) -> str:
        arrow = r"$\uparrow$" if HIGHER_IS_BETTER.get(metric, False) else r"$\downarrow$"
        return _tex_escape(metric.replace("LPIPS_", "LPIPS ")) + " " + arrow

    cols = "l" + " rr" * len(metrics)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
             " & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{head(m)}}}" for m in metrics) + r" \\",
             " ".join(rf"\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(metrics))),
             "Method & " + " & ".join("ours & paper" for _ in metrics) + r" \\", r"\midrule"]
    for label, group in df.groupby("label", sort=False):
        cells = []
        for metric in metrics:
            r = group[group.metric == metric].iloc[0]
            if r.status == "ok":
                ours = paper_format(metric, r["mean"])
                if label != INPUT_LABEL and best.get(metric) == ours:
                    ours = rf"\textbf{{{ours}}}"
            else:
                ours = rf"\emph{{{r.status}}}"
            cells += [ours, paper_format(metric, r.paper)]
        lines.append(f"{_tex_escape(label)} & " + " & ".join(cells) + r" \\")
        if label == INPUT_LABEL:
            lines.append(r"\midrule")
    n = int(df[df.status == "ok"].n.max()) if (df.status == "ok").any() else 0
    caption = _tex_escape(re.sub(r"^Table \w+:\s*", "", title))
    lines += [r"\bottomrule", r"\end{tabular}",
              rf"\caption{{{caption}. Ours: mean over {n} validation images (best in bold); "
              r"paper: the published value.}",
              rf"\label{{tab:table{number}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table(number: int | str, spec: Mapping, metrics_files: Mapping[str, str | Path],
                out_csv: str | Path, out_md: str | Path, out_tex: str | Path | None = None) -> pd.DataFrame:
    """``table<N>.csv`` (long format), ``.md`` (mean ± std, paper alongside) and, with
    ``out_tex``, ``.tex`` (booktabs, the paper's number format)."""
    df = build_table(number, spec, metrics_files)
    title = spec.get("title") or f"Table {number}"
    write_csv(out_csv, df)
    write_text(out_md, to_markdown(df, title))
    if out_tex is not None:
        write_text(out_tex, to_latex(df, title, number))
    return df
