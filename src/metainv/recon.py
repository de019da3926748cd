"""The reconstruction file ``recon.npz`` and the measurements it is made from: one owner.

Every method of a task is scored on the same measurements of the validation images: the
operator and noise come from :func:`measure` with :func:`evaluation_seed` (``seed`` + 1000).
Everything scored on the tuning split (held-out training images) — classical parameter
searches, the training curves of every learned model (Meta, UNet, unrolled, DnCNN) that
``keep: best`` selects a step on — uses :func:`tuning_seed` (``seed`` + 2000). This module
names every seed offset of the package. ``recon.npz`` holds, as float16 N×H×W×C:

- ``recon``: the reconstructions x̂;
- ``measurement``: the operator's input image (:meth:`~metainv.physics.LinearOperator.input_image`:
  y itself for masks (zero-filled) and blur, A⁺y for compressed sensing) — the "input" row of
  the tables and column of the figures;
- ``mask`` (bool, inpainting only).

Stages write it with :func:`save_reconstruction`; metrics and figures read it through
:func:`load_reconstruction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from metainv.atomic import write_npz
from metainv.physics import LinearOperator, Mask, build_operator

EVALUATION_SEED_OFFSET = 1000  # measurements of the validation images: seed + 1000
TUNING_SEED_OFFSET = 2000  # measurements of the tuning images: seed + 2000


def evaluation_seed(spec: Mapping) -> int:
    """The seed of a task's evaluation measurements, shared by all its experiments."""
    return int(spec["seed"]) + EVALUATION_SEED_OFFSET


def tuning_seed(spec: Mapping) -> int:
    """The seed of the measurements (or denoiser noise) of the tuning split."""
    return int(spec["seed"]) + TUNING_SEED_OFFSET


def tuning_measurement(spec: Mapping, x: torch.Tensor, observed: Any = None
                       ) -> tuple[LinearOperator, torch.Tensor]:
    """The fixed measurement of tuning images ``x`` (:func:`tuning_seed`): a parameter
    search and a training curve see the same masks and noise at every step."""
    return measure(spec, x, torch.Generator().manual_seed(tuning_seed(spec)), observed)


def measure(spec: Mapping, x: torch.Tensor, generator: torch.Generator,
            observed: Any = None) -> tuple[LinearOperator, torch.Tensor]:
    """Operator for the batch ``x`` and its noisy measurement y = A(x) + ε."""
    n, c, h, w = x.shape
    op = build_operator(spec["task"]["operator"], n, h, w, generator, x.device, observed=observed, channels=c)
    return op, op.measure(x, generator)


def evaluation_measurement(spec: Mapping, x: torch.Tensor) -> tuple[LinearOperator, torch.Tensor]:
    """The evaluation measurement of the validation images ``x`` (``eval.observed`` applies)."""
    observed = spec.get("eval", {}).get("observed")
    return measure(spec, x, torch.Generator().manual_seed(evaluation_seed(spec)), observed)



def save_reconstruction(out_path: str | Path, recon: torch.Tensor, measurement: torch.Tensor,
                        op: LinearOperator | None = None) -> Path:
    """Write ``recon.npz`` atomically (see the module docstring for its arrays); ``measurement``
    is y, stored as ``op.input_image(y)`` when ``op`` is given."""
    if op is not None:
        measurement = op.input_image(measurement)
    arrays = {
        "recon": recon.detach().permute(0, 2, 3, 1).cpu().numpy().astype(np.float16),
        "measurement": measurement.detach().permute(0, 2, 3, 1).cpu().numpy().astype(np.float16),
    }
    if isinstance(op, Mask):
        arrays["mask"] = op.mask.detach().cpu().numpy().astype(bool)
    return write_npz(out_path, **arrays)


@dataclass
class Reconstruction:
    """The arrays of one ``recon.npz`` (float16 N×H×W×C; ``mask`` None unless the task masks)."""

    recon: np.ndarray
    measurement: np.ndarray
    mask: np.ndarray | None = None


def load_reconstruction(path: str | Path) -> Reconstruction:
    """Read ``recon.npz``."""
    with np.load(path) as f:
        return Reconstruction(f["recon"], f["measurement"], f["mask"] if "mask" in f else None)


__all__ = ["evaluation_seed", "tuning_seed", "tuning_measurement", "measure", "evaluation_measurement", "save_reconstruction",
           "load_reconstruction", "Reconstruction", "EVALUATION_SEED_OFFSET", "TUNING_SEED_OFFSET"]
