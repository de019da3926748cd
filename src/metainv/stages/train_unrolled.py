"""Stage ``train_unrolled``: RED(12) / HQS(12) unrolled, DnCNN fine-tuned end to end (Table 4).

Starts from the pretrained DnCNN and the solver parameters tuned for the classical run
(``unrolled.params_from``: that experiment's ``params.json``); only the DnCNN's weights are
trained (see :mod:`metainv.solvers.unrolled` for why λ/σ stay fixed), with L2 to ground truth
on the training images of the deblurring task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from metainv.learned import build_unrolled_from_files, fit_supervised


def train_unrolled(spec: Mapping, data_dir: str | Path, denoiser_path: str | Path, params_path: str | Path,
                   model_path: str | Path, log_path: str | Path, device: torch.device,
                   progress: bool = True, curve_path: str | Path | None = None) -> list[dict]:
    """Fine-tune the DnCNN inside the unrolled solver; write ``model.pt`` (solver parameters
    and DnCNN weights) ``train_log.csv`` (resumable) and, with ``curve_path``, the training curve."""
    model = build_unrolled_from_files(spec, denoiser_path, params_path, device)
    rows = fit_supervised(spec, model, "unrolled", data_dir, model_path, log_path, device, progress)
    if curve_path is not None:
        from metainv.report.figures import plot_training_curve

        plot_training_curve(log_path, curve_path, f"{spec['id']}: {spec['unrolled']['solver'].upper()}"
                            f"({spec['unrolled']['steps']}) unrolled, DnCNN fine-tuned")
    return rows


__all__ = ["train_unrolled"]
