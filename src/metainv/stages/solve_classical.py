"""Stage ``solve_classical``: a RED / HQS baseline with its tuned parameters on every
validation measurement, written to ``recon.npz``.

The measurement stored beside the reconstructions is the blurred observation y itself — the
solvers' starting point and the "blurred input" row of Table 3 (for a blur, Aᵀy would blur a
second time).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import torch

from metainv.data.store import load_split, to_tensor
from metainv.denoiser import load_denoiser
from metainv.recon import evaluation_measurement, save_reconstruction
from metainv.solvers import build_solver
from metainv.stages.tune_classical import classical_solver_config, read_params

log = logging.getLogger(__name__)


def solve_classical(
    spec: Mapping, denoiser_path: str | Path, params_path: str | Path, data_dir: str | Path,
    out_path: str | Path, device: torch.device,
) -> Path:
    """Solve every validation measurement in batches of ``classical.batch_size``."""
    cfg = spec["classical"]
    params = read_params(params_path)
    solver = build_solver(classical_solver_config(spec), denoiser=load_denoiser(denoiser_path, device),
                          params=params, key=f"{spec['id']}.classical")
    val = to_tensor(load_split(data_dir, "val"), device)
    op, y = evaluation_measurement(spec, val)
    x, counts = solver.solve_in_batches(y, op, int(cfg["batch_size"]))
    log.info("%s: %s with %s, iterations per image: min %d, mean %.1f, max %d", spec["id"], solver.kind,
             params, int(counts.min()), float(counts.float().mean()), int(counts.max()))
    if solver.tol is not None and int(counts.max()) >= solver.max_steps:
        log.warning("%s: %d of %d images reached max_steps=%d before the relative change fell below %g",
                    spec["id"], int((counts >= solver.max_steps).sum()), len(counts), solver.max_steps,
                    solver.tol)
    return save_reconstruction(out_path, x, y, op)


__all__ = ["solve_classical"]
