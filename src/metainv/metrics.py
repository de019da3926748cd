"""Per-image quality metrics against ground truth (paper §4: PSNR, SSIM, MSE, LPIPS).

Images are float in [0, 1] (data range 1). The evaluation numbers are ``skimage.metrics``'
(MSE and PSNR written out to the bit, :func:`image_metrics`), so they are the reference
implementation: PSNR, and SSIM as Wang et al. (2004) define it and DPIR/KAIR compute it — an 11×11 Gaussian window
with σ = 1.5, population (not sample) covariances, K₁ = 0.01, K₂ = 0.03, data range 1, the
SSIM map averaged over pixels and then over the colour channels (:data:`SSIM_OPTIONS`); :func:`psnr_torch` is
the batched on-device PSNR used for validation curves during training and is tested
against skimage.

LPIPS (Zhang et al. 2018, v0.1) comes from :func:`metainv.perceptual.lpips_distance`, with
the ImageNet trunk named by the table (paper: AlexNet for Tables 1–2, VGG16 for Tables 3–4):
column ``LPIPS_<net>``. Its trunk file is found offline or the evaluation fails saying how to
get it; no LPIPS value is ever approximated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import torch

METRICS = ("MSE", "PSNR", "SSIM")
LPIPS_NETS = ("alex", "vgg")  # column LPIPS_<net>
#: skimage's switches for SSIM with the Gaussian window of Wang et al. (skimage's own default
#: is a 7×7 uniform window with sample covariances, which scores higher on smooth images)
SSIM_OPTIONS = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
#: One line for the tables' footnote: the SSIM convention the numbers use.
SSIM_CONVENTION = ("SSIM: Gaussian window σ = 1.5 (11 × 11), population covariances, K₁ = 0.01, "
                   "K₂ = 0.03, mean over pixels and RGB channels (Wang et al. 2004, as DPIR/KAIR)")


def psnr_torch(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for N×C×H×W tensors in [0, 1]: 10 log10(1 / MSE)."""
    import torch  # at use: the tables read this module's conventions without loading torch

    mse = (x.clamp(0, 1) - target).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse)


def image_metrics(x: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MSE, PSNR and SSIM of one H×W×C image (x is clipped to [0, 1] first).

    MSE = mean((target − x)²) in float64 and PSNR = 10 log₁₀(1 / MSE) are skimage's
    ``mean_squared_error`` and ``peak_signal_noise_ratio`` written out, equal to them to the bit
    (tested): skimage's module for those two imports ``scipy.stats``, a second or so per
    process. SSIM is skimage's own."""
    from skimage.metrics import structural_similarity

    x = np.clip(x.astype(np.float64), 0.0, 1.0)
    target = target.astype(np.float64)
    mse = np.mean((target - x) ** 2, dtype=np.float64)
    return {
        "MSE": float(mse),
        "PSNR": float(10 * np.log10(1.0 / mse)),
        "SSIM": float(structural_similarity(target, x, data_range=1.0, channel_axis=-1, **SSIM_OPTIONS)),
    }


def evaluate_batch(recon: np.ndarray, target: np.ndarray, prefix: str = "",
                   lpips_nets: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Metrics for N×H×W×C arrays, one row per image (columns prefixed by ``prefix``), plus
    ``LPIPS_<net>`` for each net in ``lpips_nets``."""
    if recon.shape != target.shape:
        raise ValueError(f"reconstruction {recon.shape} and ground truth {target.shape} differ")
    frame = pd.DataFrame([image_metrics(r, t) for r, t in zip(recon, target)])
    for net in lpips_nets:
        if net not in LPIPS_NETS:
            raise ValueError(f"LPIPS net must be one of {LPIPS_NETS}, got {net!r}")
        from metainv.perceptual import lpips_distance  # torch model only when asked for

        frame[f"LPIPS_{net}"] = lpips_distance(recon, target, net)
    return frame.add_prefix(prefix)


def reconstruction_metrics(recon: np.ndarray, measurement: np.ndarray, target: np.ndarray,
                           lpips_nets: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """One row per image: ``index``, the reconstruction's metrics (:func:`evaluate_batch`) and the
    same for the method's input image (``input_*`` columns), all against ``target``."""
    if len(recon) != len(target):
        raise ValueError(f"{len(recon)} reconstructions for {len(target)} ground-truth images")
    frame = pd.concat([evaluate_batch(recon, target, lpips_nets=lpips_nets),
                       evaluate_batch(measurement, target, "input_", lpips_nets)], axis=1)
    frame.insert(0, "index", np.arange(len(frame)))
    return frame
