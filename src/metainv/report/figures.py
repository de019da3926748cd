"""Figures: training curves and side-by-side reconstructions (paper Figures 1–3)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from metainv.atomic import save_figure  # noqa: E402


def _suptitle(fig: plt.Figure, title: str, fontsize: float) -> None:
    """``fig.suptitle`` wrapped onto as many lines as it takes to fit the figure's width
    (measured with the renderer, so it holds for any font)."""
    if not title:
        return
    text = fig.suptitle(title, fontsize=fontsize)
    renderer = fig.canvas.get_renderer()
    limit = 0.96 * fig.bbox.width
    width = len(title)
    while width > 10 and text.get_window_extent(renderer).width > limit:
        width = int(width * 0.9)
        text.set_text(textwrap.fill(title, width, break_long_words=False))


def _save(fig: plt.Figure, out_png: str | Path) -> Path:
    fig.tight_layout()
    try:
        return save_figure(fig, out_png, dpi=110)
    finally:
        plt.close(fig)


#: the log column holding the training curve's PSNR on tuning-split images (``data.tuning``).
CURVE_PSNR_COLUMNS = ("tuning_psnr",)


def plot_training_curve(log_csv: str | Path, out_png: str | Path, title: str) -> Path:
    """Outer loss (log scale), inner losses per step, the learned inner rates per step
    (``rate_k``, or the Meta-SGD mean with its min–max band) and the training curve's PSNR
    on tuning-split images (column ``tuning_psnr``). A meta experiment's log adds a panel of
    what the inner loop does (``inner_gain_db``: adapted − f(φ_θ) on the training batches,
    ``inner_rel_change``: ‖Δφ‖/‖φ‖) and f(φ_θ)'s curve (``tuning_psnr_start``) beside the
    adapted one."""
    log = pd.read_csv(log_csv)
    curve = next((c for c in CURVE_PSNR_COLUMNS if c in log and log[c].notna().any()), None)
    has_val = curve is not None
    rate_cols = [c for c in log.columns if c.startswith("rate_") and not c.endswith(("_min", "_max"))]
    has_inner = "inner_gain_db" in log
    n_panels = 1 + bool(rate_cols) + has_inner + has_val
    fig, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 3.6), squeeze=False)
    ax = axes[0, 0]
    window = max(1, len(log) // 50)
    ax.plot(log.step, log.loss, alpha=0.3, color="C0", lw=0.8)
    ax.plot(log.step, log.loss.rolling(window, min_periods=1).mean(), color="C0", label="outer loss")
    for i, col in enumerate(c for c in log.columns if c.startswith("inner_loss_")):
        ax.plot(log.step, log[col].rolling(window, min_periods=1).mean(), lw=0.8, ls="--",
                color=f"C{i + 1}", label=col.replace("_", " "))
    ax.set_yscale("log")
    ax.set_xlabel("outer step")
    ax.set_title("losses (rolling mean)")
    ax.legend(fontsize=7)
    if rate_cols:
        ax = axes[0, 1]
        for i, col in enumerate(rate_cols):
            k = col.removeprefix("rate_").removesuffix("_mean")
            ax.plot(log.step, log[col], color=f"C{i + 1}", lw=1, label=f"α step {k}")
            if f"rate_{k}_min" in log and f"rate_{k}_max" in log:
                ax.fill_between(log.step, log[f"rate_{k}_min"], log[f"rate_{k}_max"],
                                color=f"C{i + 1}", alpha=0.12, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("outer step")
        ax.set_title("inner rates" + (" (mean, min–max)" if rate_cols[0].endswith("_mean") else ""))
        ax.legend(fontsize=7)
    if has_inner:
        ax = axes[0, 1 + bool(rate_cols)]
        ax.plot(log.step, log.inner_gain_db, alpha=0.3, color="C0", lw=0.8)
        ax.plot(log.step, log.inner_gain_db.rolling(window, min_periods=1).mean(), color="C0",
                label="adapted − f(φ_θ), dB")
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_xlabel("outer step")
        ax.set_ylabel("PSNR gain (dB)")
        ax.set_title("what the inner loop adds (training batches)")
        if "inner_rel_change" in log:
            twin = ax.twinx()
            twin.plot(log.step, log.inner_rel_change.rolling(window, min_periods=1).mean(), color="C3",
                      lw=0.8, ls="--", label="‖Δφ‖/‖φ‖")
            twin.set_ylabel("‖Δφ‖/‖φ‖", color="C3")
            twin.legend(fontsize=7, loc="lower right")
        ax.legend(fontsize=7, loc="upper left")
    if has_val:
        val = log.dropna(subset=[curve])
        ax = axes[0, n_panels - 1]
        ax.plot(val.step, val[curve], marker="o", ms=3, label="adapted")
        if "tuning_psnr_start" in val:
            ax.plot(val.step, val.tuning_psnr_start, marker="s", ms=3, ls="--", label="f(φ_θ), no inner step")
            ax.legend(fontsize=7)
        ax.set_xlabel("outer step")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title("tuning-split PSNR")
    _suptitle(fig, title, fontsize=12)
    return _save(fig, out_png)


Panel = tuple[str, np.ndarray, "float | None"]


def grid_rows(ground_truth: np.ndarray, layout: Sequence[tuple[str, Mapping[str, str]]],
              recon: Mapping[str, np.ndarray], measurement: Mapping[str, np.ndarray],
              psnr: Mapping[str, Sequence[float]], input_psnr: Mapping[str, Sequence[float]],
              n_images: int) -> list[tuple[str, list[Panel]]]:
    """The panels of a reconstruction figure: one row per (image, row group), each
    ``[("input", y, PSNR), (method, x̂, PSNR)…, ("ground truth", x, None)]`` where y is the
    group's own measurement (that of its first experiment). Arrays keyed by experiment id."""
    rows = []
    for i in range(min(n_images, len(ground_truth))):
        for label, cols in layout:
            first = next(iter(cols.values()))
            panels: list[Panel] = [("input", measurement[first][i], float(input_psnr[first][i]))]
            panels += [(col, recon[eid][i], float(psnr[eid][i])) for col, eid in cols.items()]
            panels.append(("ground truth", ground_truth[i], None))
            rows.append((label, panels))
    return rows


def plot_panel_rows(rows: Sequence[tuple[str, Sequence[Panel]]], out_png: str | Path, title: str) -> Path:
    """Draw :func:`grid_rows`: panel names above the first row, row labels at the left,
    PSNR under each panel."""
    width = max(len(panels) for _, panels in rows)
    fig, axes = plt.subplots(len(rows), width, figsize=(1.6 * width, 1.7 * len(rows)), squeeze=False)
    for r, (label, panels) in enumerate(rows):
        for j in range(width):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(panels):
                ax.axis("off")
                continue
            name, img, value = panels[j]
            ax.imshow(np.clip(np.asarray(img, dtype=np.float32), 0, 1), interpolation="nearest")
            if r == 0:
                ax.set_title(name, fontsize=8)
            if value is not None:
                ax.set_xlabel(f"{value:.1f} dB", fontsize=7)
            if j == 0 and label:
                ax.set_ylabel(label, fontsize=8)
    _suptitle(fig, title, fontsize=9)
    return _save(fig, out_png)


def plot_step_curve(frame: pd.DataFrame, out_png: str | Path, title: str) -> Path:
    """PSNR (mean ± std over the validation images) against the number of inner / solver steps
    (symlog axis: 0 is the start alone) and against the wall-clock seconds per image (log
    axis), one line per ``label`` of a step_curve.csv frame (:mod:`metainv.stages.step_curve`)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), squeeze=False)
    for i, (label, part) in enumerate(frame.groupby("label", sort=False)):
        part = part.sort_values("steps")
        style = dict(color=f"C{i}", marker="o", ms=3, label=label, ls="-" if part.kind.iloc[0] == "meta" else "--")
        ax = axes[0, 0]
        ax.plot(part.steps, part.psnr_mean, **style)
        ax.fill_between(part.steps, part.psnr_mean - part.psnr_std, part.psnr_mean + part.psnr_std,
                        color=f"C{i}", alpha=0.1, lw=0)
        axes[0, 1].plot(part.seconds_per_image.clip(lower=1e-6), part.psnr_mean, **style)
    ax = axes[0, 0]
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("inner steps (solver steps for the classical lines)")
    ax.set_ylabel("PSNR (dB), validation")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    ax.set_xscale("log")
    ax.set_xlabel("wall-clock seconds per image")
    ax.set_ylabel("PSNR (dB), validation")
    _suptitle(fig, title, fontsize=10)
    return _save(fig, out_png)


#: marker per inner-loop family of a capacity study (:func:`metainv.meta.model.inner_loop_capacity`)
CAPACITY_MARKERS = {"all weights": "o", "last layers": "s", "latent": "^"}


def plot_capacity(frame: pd.DataFrame, out_png: str | Path, title: str) -> Path:
    """One panel per metric of a capacity-study frame (:mod:`metainv.stages.capacity`): each
    point's mean over the validation images (bar: ± 1.96 standard errors) against the values its
    inner loop adapts per image (log axis), one line per family; the references as horizontal
    lines."""
    metrics = list(dict.fromkeys(frame.metric))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        part = frame[frame.metric == metric].drop_duplicates(["label", "role"])
        points = part[part.role == "point"]
        for i, (family, rows) in enumerate(points.groupby("family", sort=False)):
            rows = rows.sort_values("adapted")
            err = 1.96 * rows["std"] / rows["n"].clip(lower=1) ** 0.5
            ax.errorbar(rows.adapted, rows["mean"], yerr=err, color=f"C{i}", marker=CAPACITY_MARKERS.get(family, "o"),
                        ms=5, capsize=3, label=family)
            for r in rows.itertuples(index=False):
                ax.annotate(r.label, (r.adapted, r.mean), textcoords="offset points", xytext=(4, 4), fontsize=6)
        for j, r in enumerate(part[part.role == "reference"].itertuples(index=False)):
            ax.axhline(r.mean, color="0.4", ls=("--", ":", "-.")[j % 3], lw=1, label=f"{r.label} (reference)")
        ax.set_xscale("log")
        ax.set_xlabel("values the inner loop adapts per image")
        ax.set_ylabel(f"{metric}, validation")
        ax.legend(fontsize=7)
    _suptitle(fig, title, fontsize=10)
    return _save(fig, out_png)
