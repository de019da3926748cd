"""Stages ``table`` and ``figure``: the paper's tables and figures from the per-image metrics
and reconstructions (ours beside the paper's numbers; :mod:`metainv.report`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from metainv.data.store import load_split
from metainv.config import figure_layout
from metainv.report.figures import grid_rows, plot_panel_rows
from metainv.report.tables import write_table

log = logging.getLogger(__name__)


def table(number: str, spec: Mapping, metrics: Mapping[str, str | Path], out_csv: str | Path,
          out_md: str | Path, out_tex: str | Path | None = None) -> pd.DataFrame:
    """Table ``number`` (spec ``config.tables.<number>``) from experiment → ``metrics.csv``:
    CSV, markdown and (``out_tex``) booktabs LaTeX."""
    df = write_table(number, spec, metrics, out_csv, out_md, out_tex)
    log.info("wrote %s (%d rows)", out_md, len(df))
    return df


def figure(spec: Mapping, data_dir: str | Path, recons: Mapping[str, str | Path],
           metrics: Mapping[str, str | Path], out_png: str | Path) -> Path:
    """Sample reconstructions: per image (and per row group of ``spec["experiments"]``, see
    :func:`metainv.config.figure_layout`) the group's own input y, its methods, the ground
    truth, each with its PSNR. ``recons`` / ``metrics``: experiment id → recon.npz / metrics.csv
    (experiments that ran; the others are left out)."""
    gt = load_split(data_dir, "val")[: spec["n_images"]].astype(np.float32) / 255.0
    layout = [(row, {label: eid for label, eid in cols.items() if eid in recons})
              for row, cols in figure_layout(spec["experiments"])]
    layout = [(row, cols) for row, cols in layout if cols]
    from metainv.recon import load_reconstruction  # torch only for figures

    loaded = {eid: load_reconstruction(path) for eid, path in recons.items()}
    frames = {eid: pd.read_csv(path) for eid, path in metrics.items()}
    rows = grid_rows(gt, layout, {e: r.recon for e, r in loaded.items()},
                     {e: r.measurement for e, r in loaded.items()},
                     {e: f.PSNR.tolist() for e, f in frames.items()},
                     {e: f.input_PSNR.tolist() for e, f in frames.items()}, spec["n_images"])
    return plot_panel_rows(rows, out_png, spec.get("title", ""))


__all__ = ["table", "figure"]
