"""A meta experiment's ``model.pt`` and its solver f: one owner.

``model.pt`` (written by :mod:`metainv.stages.meta_train`)::

    {"spec", "siren": θ, "rates": α, "solver_params" (Meta-RED: the tuned λ, σ_f),
     "denoiser" (a fine-tuned DnCNN's weights, else None), "steps_trained", "selected_step"}

Tensors, numbers, strings and plain containers only (read with
:func:`metainv.train.load_tensors`, which never runs code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from metainv.errors import ConfigError, MetainvError
from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.model import build_model
from metainv.nets.siren import Siren
from metainv.solvers import Solver, build_solver
from metainv.train import atomic_torch_save, load_tensors


def solver_parts(spec: Mapping, device: torch.device, denoiser_path: str | Path | None = None,
                 solver_params: Mapping | None = None, denoiser_state: Mapping | None = None,
                 training: bool = False) -> tuple[torch.nn.Module | None, Solver, Solver]:
    """(denoiser or None, solver f, evaluation solver) of a meta experiment.

    A ``red`` solver loads the pretrained DnCNN from ``denoiser_path`` (weights frozen unless
    ``denoiser.finetune`` and ``training``, the meta_train stage; frozen, the solvers run it
    with BatchNorm folded: :func:`metainv.solvers.build_solver`), optionally replaced by a
    fine-tuned ``denoiser_state``; RED's
    parameters are ``solver_params`` (tuned for the classical baseline) or the spec's.
    ``eval.data_consistency`` makes the evaluation solver one gradient step of size 1 on the
    data term (the observed pixels of a mask kept exactly).
    """
    from metainv.denoiser import load_denoiser

    denoiser = None
    if spec["solver"]["kind"] == "red":
        if denoiser_path is None:
            raise ConfigError(f"{spec['id']}: a red solver needs the trained DnCNN (--denoiser)")
        denoiser = load_denoiser(denoiser_path, device, trainable=training and spec["denoiser"]["finetune"])
        if denoiser_state is not None:
            denoiser.load_state_dict(denoiser_state)
    solver = build_solver(spec["solver"], denoiser=denoiser, params=solver_params)
    eval_solver = build_solver(spec["solver"], evaluation=True, denoiser=denoiser, params=solver_params)
    if spec["eval"]["data_consistency"]:
        # x ← x − Aᵀ(Ax − y): for a mask, the observed pixels replaced by y (config.py allows
        # it only for solver kind none on an inpainting task)
        eval_solver = build_solver({"kind": "gd", "steps": 1, "step_size": 1.0}, evaluation=True)
    return denoiser, solver, eval_solver


def save_meta_model(path: str | Path, spec: Mapping, siren: Siren, rates: InnerLearningRates,
                    solver_params: Mapping | None, denoiser: torch.nn.Module | None,
                    steps_trained: int, selected_step: int | None) -> None:
    """Write ``model.pt`` atomically (see the module docstring)."""
    atomic_torch_save({"spec": dict(spec), "siren": siren.state_dict(), "rates": rates.state_dict(),
                       "solver_params": None if solver_params is None else dict(solver_params),
                       "denoiser": None if denoiser is None else denoiser.state_dict(),
                       "steps_trained": int(steps_trained),
                       "selected_step": None if selected_step is None else int(selected_step)}, path)


def load_meta_model(path: str | Path, device: torch.device | str = "cpu"
                    ) -> tuple[dict[str, Any], Siren, InnerLearningRates]:
    """(the saved ``model.pt`` dict — spec, solver params, fine-tuned DnCNN —, θ, α) on ``device``."""
    state = load_tensors(path, map_location=device)
    if not isinstance(state, dict) or not {"spec", "siren", "rates"} <= set(state):
        raise MetainvError(f"{path}: not a meta model.pt (needs spec, siren and rates)")
    siren, rates = build_model(state["spec"])
    siren.load_state_dict(state["siren"])
    rates.load_state_dict(state["rates"])
    return state, siren.to(device), rates.to(device)


__all__ = ["solver_parts", "save_meta_model", "load_meta_model"]
