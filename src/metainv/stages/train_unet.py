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
               device: torch.device, progress: bool = True) -> list[dict]:
    """Train the experiment's UNet; write ``model.pt`` and ``train_log.csv`` (resumable)."""
    net = build_unet(spec).to(device)
    return fit_supervised(spec, net, "unet", data_dir, model_path, log_path, device, progress)


__all__ = ["train_unet"]
