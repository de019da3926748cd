"""Stages ``table`` and ``figure``: the paper's tables and figures from the per-image metrics
and reconstructions (ours beside the paper's numbers; :mod:`metainv.report`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from metainv.data.store import load_split
from metainv.recon import load_reconstruction
from metainv.report.figures import plot_reconstructions
from metainv.report.tables import write_table

log = logging.getLogger(__name__)


def table(number: str, spec: Mapping, metrics: Mapping[str, str | Path], out_csv: str | Path,
          out_md: str | Path) -> pd.DataFrame:
    """Table ``number`` (spec ``config.tables.<number>``) from experiment → ``metrics.csv``."""
    df = write_table(number, spec, metrics, out_csv, out_md)
    log.info("wrote %s (%d rows)", out_md, len(df))
    return df


def figure(spec: Mapping, data_dir: str | Path, recons: Mapping[str, str | Path],
           metrics: Mapping[str, str | Path], out_png: str | Path) -> Path:
    """Sample reconstructions side by side: input y, one column per label, ground truth;
    each image's PSNR under it. ``recons`` / ``metrics``: label → recon.npz / metrics.csv."""
    gt = load_split(data_dir, "val")[: spec["n_images"]].astype(np.float32) / 255.0
    first = next(iter(recons))
    columns = {"input": load_reconstruction(recons[first]).measurement}
    psnr = {"input": pd.read_csv(metrics[first]).input_PSNR.tolist()}
    for label, path in recons.items():
        columns[label] = load_reconstruction(path).recon
        psnr[label] = pd.read_csv(metrics[label]).PSNR.tolist()
    return plot_reconstructions(gt, columns, psnr, out_png, spec.get("title", ""), spec["n_images"])


__all__ = ["table", "figure"]
