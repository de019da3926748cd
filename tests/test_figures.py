"""Figures 1–3 and the training curve, drawn from synthetic arrays with the shipped titles."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from metainv.config import figure_experiments, figure_layout
from metainv.report.figures import grid_rows, plot_panel_rows, plot_training_curve

ROOT = Path(__file__).resolve().parents[1]
FIGURES = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["figures"]


def title_band_touches_edges(png: Path) -> bool:
    """Whether any dark pixel of the title band (top rows, above the panels) lies in the
    outermost columns: a title wider than the figure is cut off there."""
    img = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
    band = img[: max(8, img.shape[0] // 12)]
    edges = np.concatenate([band[:, :3], band[:, -3:]], axis=1)
    return bool((edges < 200).any())


@pytest.mark.parametrize("number", sorted(FIGURES))
def test_figure_titles_fit_the_figure(number, tmp_path):
    spec = FIGURES[number]
    layout = figure_layout(spec["experiments"])
    ids = figure_experiments(spec["experiments"])
    rng = np.random.default_rng(0)
    n = spec.get("n_images", 6)
    gt = rng.random((n, 8, 8, 3))
    recon = {e: rng.random((n, 8, 8, 3)) for e in ids}
    psnr = {e: rng.uniform(10, 40, n) for e in ids}
    rows = grid_rows(gt, layout, recon, recon, psnr, psnr, n_images=n)
    out = plot_panel_rows(rows, tmp_path / f"figure{number}.png", spec["title"])
    assert not title_band_touches_edges(out), f"Figure {number}'s title is cut off"


def test_an_unwrapped_long_title_would_be_cut_off(tmp_path):
    """The check above can fail: the same title drawn by a bare suptitle runs off the edges."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 5, figsize=(8, 2))
    fig.suptitle(FIGURES["2"]["title"], fontsize=9)
    fig.savefig(tmp_path / "bare.png", dpi=110)
    plt.close(fig)
    assert title_band_touches_edges(tmp_path / "bare.png")


@pytest.mark.parametrize("column", ["tuning_psnr"])
def test_training_curve_reads_either_name_of_the_tuning_curve(column, tmp_path, monkeypatch):
    import matplotlib.axes

    titles = []
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title",
                        lambda self, label, *a, **k: titles.append(label))
    log = tmp_path / "train_log.csv"
    pd.DataFrame({"step": [1, 2, 3, 4], "loss": [1.0, 0.5, 0.4, 0.3], "rate_1": [0.01, 0.02, 0.03, 0.04],
                  column: [np.nan, 20.0, np.nan, 22.0]}).to_csv(log, index=False)
    out = plot_training_curve(log, tmp_path / "curve.png",
                              "meta_center_m5 (inpaint_center): a long title " * 4)
    assert "tuning-split PSNR" in titles and "validation PSNR" not in titles
    assert not title_band_touches_edges(out)
