"""Stage ``evaluate``: per-image metrics of one ``recon.npz`` → ``metrics.csv``.

The workflow scores inside rule ``reconstruct`` (``metainv reconstruct --metrics``, one process
per experiment); this stage scores a ``recon.npz`` on its own, with the same function
(:func:`metainv.metrics.reconstruction_metrics`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from metainv.atomic import write_csv
from metainv.data.store import load_split
from metainv.metrics import reconstruction_metrics
from metainv.recon import load_reconstruction

log = logging.getLogger(__name__)


def evaluate_reconstruction(recon_npz: str | Path, data_dir: str | Path,
                            lpips_nets: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Per-image metrics of ``recon.npz`` against the store's validation split.

    One row per image: ``index``, the reconstruction's MSE/PSNR/SSIM, and the same for the
    method's input, the operator's input image (``input_*`` columns: the zero-filled image for
    inpainting, the blurred image for deblurring, A⁺y for compressed sensing); ``LPIPS_<net>`` and
    ``input_LPIPS_<net>`` columns for the nets in ``lpips_nets``.
    """
    target = load_split(data_dir, "val").astype(np.float64) / 255.0
    rec = load_reconstruction(recon_npz)
    if len(rec.recon) != len(target):
        raise ValueError(f"{recon_npz}: {len(rec.recon)} reconstructions for {len(target)} validation images")
    return reconstruction_metrics(rec.recon, rec.measurement, target, lpips_nets)


def evaluate(recon_npz: str | Path, data_dir: str | Path, out_csv: str | Path,
             lpips_nets: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Write ``metrics.csv`` (:func:`evaluate_reconstruction`) and log the means."""
    frame = evaluate_reconstruction(recon_npz, data_dir, lpips_nets)
    write_csv(out_csv, frame)
    log.info("%s: PSNR %.2f dB (input %.2f dB) over %d images", recon_npz, frame.PSNR.mean(),
             frame.input_PSNR.mean(), len(frame))
    return frame


__all__ = ["evaluate", "evaluate_reconstruction"]
