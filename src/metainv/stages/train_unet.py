"""Stage ``train_unet``: the UNet baseline of Tables 1–2 (paper §4.1), one model per task.

Input the zero-filled measurement and the mask, output the image, L2 to ground truth, the
meta experiments' training images and measurement distribution (Table 2: K drawn per batch as
for Meta, so one model serves every K); :func:`metainv.learned.fit_supervised` does the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from metainv.learned import build_unet, fit_supervised


def train_unet(spec: Mapping, data_dir: str | Path, model_path: str | Path, log_path: str | Path,
               device: torch.device, progress: bool = True, curve_path: str | Path | None = None) -> list[dict]:
    """Train the experiment's UNet; write ``model.pt``, ``train_log.csv`` (resumable) and,
    with ``curve_path``, the training curve."""
    net = build_unet(spec).to(device)
    rows = fit_supervised(spec, net, "unet", data_dir, model_path, log_path, device, progress)
    if curve_path is not None:
        from metainv.report.figures import plot_training_curve

        plot_training_curve(log_path, curve_path, f"{spec['id']}: UNet ({spec['task']['name']})")
    return rows


__all__ = ["train_unet"]
