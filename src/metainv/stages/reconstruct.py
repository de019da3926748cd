"""Stage ``reconstruct``: any method on every validation measurement → ``recon.npz``.

The reconstructor comes from the experiment spec and its files
(:func:`metainv.reconstructors.load_reconstructor`: meta ``model.pt``, a classical
``params.json`` with the DnCNN, a UNet / unrolled ``model.pt``, nothing for interpolation).
Every method of a task sees the same measurements: the evaluation seed, masks and noise of
:func:`metainv.recon.evaluation_measurement` (``eval.observed`` picks K for random
inpainting, so one trained model is scored at each K by experiments with ``model_from``).
The measurement stored beside the reconstructions is the operator's input image
(:meth:`~metainv.physics.LinearOperator.input_image`): y itself for a mask (zero-filled) and a
blur (Aᵀy would blur a second time), A⁺y for compressed sensing.

With ``metrics_path`` the same process scores what it wrote (``metrics.csv``, as stage
``evaluate`` would from the stored float16 arrays): the workflow's one job per experiment.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from metainv.atomic import write_csv
from metainv.data.store import load_split, to_tensor
from metainv.recon import evaluation_measurement, load_reconstruction, save_reconstruction
from metainv.reconstructors import load_reconstructor

log = logging.getLogger(__name__)


def reconstruct(spec: Mapping, data_dir: str | Path, out_path: str | Path, device: torch.device,
                model_path: str | Path | None = None, params_path: str | Path | None = None,
                denoiser_path: str | Path | None = None, metrics_path: str | Path | None = None,
                lpips_nets: tuple[str, ...] | list[str] = ()) -> Path:
    """Reconstruct the store's validation split with the experiment's method; write ``recon.npz``
    and, with ``metrics_path``, its per-image metrics (:func:`metainv.metrics.reconstruction_metrics`,
    LPIPS columns for ``lpips_nets``)."""
    method = load_reconstructor(spec, {"model": model_path, "params": params_path, "denoiser": denoiser_path},
                                device)
    images = load_split(data_dir, "val")
    val = to_tensor(images, device)
    op, y = evaluation_measurement(spec, val)
    x = method.reconstruct_all(y, op)
    log.info("%s: %s reconstructed %d images", spec["id"], spec["method"], len(x))
    written = save_reconstruction(out_path, x, y, op)
    if metrics_path is not None:
        from metainv.metrics import reconstruction_metrics  # skimage / scipy only when scoring

        stored = load_reconstruction(written)  # the float16 arrays every reader of recon.npz sees
        frame = reconstruction_metrics(stored.recon, stored.measurement, images.astype(np.float64) / 255.0,
                                       lpips_nets)
        write_csv(metrics_path, frame)
        log.info("%s: PSNR %.2f dB (input %.2f dB) over %d images", spec["id"], frame.PSNR.mean(),
                 frame.input_PSNR.mean(), len(frame))
    return written


__all__ = ["reconstruct"]
