"""Stage ``reconstruct_learned``: a trained learned baseline (UNet, unrolled RED/HQS) on every
validation measurement, written as ``recon.npz``.

The measurements are the task's evaluation measurements (same seed, masks and noise as every
other method of the task); ``eval.observed`` picks K for random inpainting, so the one Table 2
UNet is scored at each K by experiments with ``model_from``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from metainv.learned import load_learned


@torch.no_grad()
def reconstruct_learned(spec: Mapping, model_path: str | Path, data_dir: str | Path, out_path: str | Path,
                        device: torch.device) -> Path:
    """Every validation image through the trained network; write ``recon.npz``. Measurements
    use the task's evaluation seed (the masks and noise every method of the task sees)."""
    from metainv.data.store import load_split, to_tensor
    from metainv.recon import evaluation_measurement, save_reconstruction, select

    model = load_learned(model_path, device)
    val = to_tensor(load_split(data_dir, "val"), device)
    op, y = evaluation_measurement(spec, val)
    batch = int(spec["eval"]["batch_size"])
    outputs = [model(y[i : i + batch], select(op, slice(i, i + batch))) for i in range(0, len(val), batch)]
    return save_reconstruction(out_path, torch.cat(outputs), y, op)


__all__ = ["reconstruct_learned"]
