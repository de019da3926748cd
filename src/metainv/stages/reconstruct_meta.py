"""Stage ``reconstruct_meta`` (Algorithm 1): the trained initialisation on every validation
measurement, written to ``recon.npz`` (:mod:`metainv.recon`)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from metainv.data.store import load_split, to_tensor
from metainv.meta.maml import adapt
from metainv.recon import evaluation_measurement, save_reconstruction, select
from metainv.stages.meta_train import load_model, solver_parts


def reconstruct_meta(spec: Mapping, model_path: str | Path, data_dir: str | Path,
                     out_path: str | Path, device: torch.device,
                     denoiser_path: str | Path | None = None) -> Path:
    """Algorithm 1 on every validation image; write ``recon.npz``.

    Measurements use the fixed evaluation seed (:func:`metainv.recon.evaluation_seed`), so
    every method of a task sees the same masks and noise. A red solver uses the solver
    parameters and (when fine-tuned) the DnCNN weights stored in ``model.pt``.
    """
    state, siren, rates = load_model(model_path, device)
    val = to_tensor(load_split(data_dir, "val"), device)
    op, y = evaluation_measurement(spec, val)
    _, solver, eval_solver = solver_parts(spec, device, denoiser_path, state.get("solver_params"),
                                          state.get("denoiser"))
    batch = int(spec["eval"]["batch_size"])
    outputs = []
    for start in range(0, len(val), batch):
        index = slice(start, start + batch)
        result = adapt(siren, rates, y[index], select(op, index), solver, spec["inner"]["steps"],
                       track_meta_gradient=False, final_solver=eval_solver,
                       reduction=spec["inner"]["loss_reduction"])
        outputs.append(result.output.detach())
    return save_reconstruction(out_path, torch.cat(outputs), y, op)


__all__ = ["reconstruct_meta"]
