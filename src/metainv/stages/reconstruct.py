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
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import torch

from metainv.data.store import load_split, to_tensor
from metainv.recon import evaluation_measurement, save_reconstruction
from metainv.reconstructors import load_reconstructor

log = logging.getLogger(__name__)


def reconstruct(spec: Mapping, data_dir: str | Path, out_path: str | Path, device: torch.device,
                model_path: str | Path | None = None, params_path: str | Path | None = None,
                denoiser_path: str | Path | None = None) -> Path:
    """Reconstruct the store's validation split with the experiment's method; write ``recon.npz``."""
    method = load_reconstructor(spec, {"model": model_path, "params": params_path, "denoiser": denoiser_path},
                                device)
    val = to_tensor(load_split(data_dir, "val"), device)
    op, y = evaluation_measurement(spec, val)
    x = method.reconstruct_all(y, op)
    log.info("%s: %s reconstructed %d images", spec["id"], spec["method"], len(x))
    return save_reconstruction(out_path, x, y, op)


__all__ = ["reconstruct"]
