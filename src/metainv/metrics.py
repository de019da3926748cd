"""Per-image quality metrics against ground truth (paper §4: PSNR, SSIM, MSE, LPIPS).

Images are float in [0, 1] (data range 1). The evaluation numbers come from
``skimage.metrics`` itself (PSNR; SSIM with its default 7×7 uniform window, colour channels
averaged) so they are the reference implementation by construction; :func:`psnr_torch` is
the batched on-device PSNR used for validation curves during training and is tested
against skimage.

LPIPS (Zhang et al. 2018) needs ImageNet backbone weights that cannot be fetched offline;
until the metrics issue lands, the LPIPS columns are reported as unavailable, never
approximated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

METRICS = ("MSE", "PSNR", "SSIM")


def psnr_torch(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for N×C×H×W tensors in [0, 1]: 10 log10(1 / MSE)."""
    mse = (x.clamp(0, 1) - target).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse)


def image_metrics(x: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MSE, PSNR and SSIM of one H×W×C image (x is clipped to [0, 1] first)."""
    x = np.clip(x.astype(np.float64), 0.0, 1.0)
    target = target.astype(np.float64)
    return {
        "MSE": float(mean_squared_error(target, x)),
        "PSNR": float(peak_signal_noise_ratio(target, x, data_range=1.0)),
        "SSIM": float(structural_similarity(target, x, data_range=1.0, channel_axis=-1)),
    }


def evaluate_batch(recon: np.ndarray, target: np.ndarray, prefix: str = "") -> pd.DataFrame:
    """Metrics for N×H×W×C arrays, one row per image (columns prefixed by ``prefix``)."""
    if recon.shape != target.shape:
        raise ValueError(f"reconstruction {recon.shape} and ground truth {target.shape} differ")
    rows = [image_metrics(r, t) for r, t in zip(recon, target)]
    return pd.DataFrame(rows).add_prefix(prefix)
