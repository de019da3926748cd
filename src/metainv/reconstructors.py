"""One reconstruction interface for every method: ``reconstruct(y, physics) -> x``.

In the spirit of ``deepinv.models.Reconstructor`` (a module whose ``forward(y, physics)``
returns the estimate): every method of the paper reconstructs a batch of measurements y of
an operator ``physics`` (:mod:`metainv.physics`) through :meth:`Reconstructor.reconstruct`,
and :func:`load_reconstructor` builds any of them from an experiment spec and its files:

=================  ====================================================================  ==========================
``method``         reconstructor                                                         files
=================  ====================================================================  ==========================
``meta``           :class:`MetaReconstructor`: SIREN θ, m inner steps with rates α and   ``model``; ``denoiser``
                   solver f (Algorithm 1); Meta-RED's DnCNN; ``eval.data_consistency``   (solver kind red)
``red``, ``hqs``   :class:`ClassicalReconstructor`: the solver from y with the tuned     ``params``, ``denoiser``
                   parameters (``params.json``)
``tv``             :class:`ClassicalReconstructor`: TV-regularised HQS, no DnCNN           ``params``
``unet``,          :class:`NetworkReconstructor`: the trained network ``net(y, physics)``  ``model``
``unrolled``
``interp``         :class:`InterpolationReconstructor`: linear interpolation of the       none
                   observed pixels (masks only)
=================  ====================================================================  ==========================

:meth:`Reconstructor.reconstruct_all` runs a whole split in batches of :attr:`batch_size`
(``eval.batch_size``; ``classical.batch_size`` for RED/HQS), each batch with its own slice of
the operator (:func:`metainv.physics.select`).
"""

from __future__ import annotations

import abc
import logging
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from metainv.errors import ConfigError
from metainv.physics import LinearOperator, Mask
from metainv.physics import select

log = logging.getLogger(__name__)

#: Which files each method reconstructs from (keys of ``load_reconstructor``'s ``files``).
FILES: dict[str, tuple[str, ...]] = {
    "meta": ("model",), "red": ("params", "denoiser"), "hqs": ("params", "denoiser"), "tv": ("params",),
    "unet": ("model",), "unrolled": ("model",), "interp": (),
}


class Reconstructor(nn.Module, abc.ABC):
    """x̂ = R(y, A): a reconstruction method for measurements ``y`` of ``physics``."""

    def __init__(self, batch_size: int):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.batch_size = int(batch_size)

    @abc.abstractmethod
    def reconstruct(self, y: torch.Tensor, physics: LinearOperator) -> torch.Tensor:
        """The estimate x̂ (B×C×H×W in [0, 1]-ish) of one batch of measurements."""

    def forward(self, y: torch.Tensor, physics: LinearOperator) -> torch.Tensor:
        return self.reconstruct(y, physics)

    def reconstruct_all(self, y: torch.Tensor, physics: LinearOperator) -> torch.Tensor:
        """Every measurement of ``y``, in batches of :attr:`batch_size`."""
        outputs = []
        for start in range(0, len(y), self.batch_size):
            index = slice(start, start + self.batch_size)
            outputs.append(self.reconstruct(y[index], select(physics, index)).detach())
        return torch.cat(outputs)


class MetaReconstructor(Reconstructor):
    """Algorithm 1: θ adapted to y by m inner steps with rates α through the solver f, then
    the evaluation solver (``solver.eval_step_size`` or ``eval.data_consistency``)."""

    def __init__(self, siren: nn.Module, rates: nn.Module, solver, eval_solver, steps: int,
                 reduction: str, batch_size: int):
        super().__init__(batch_size)
        self.siren, self.rates = siren, rates
        self.solver, self.eval_solver = solver, eval_solver
        self.steps, self.reduction = int(steps), reduction

    def reconstruct(self, y: torch.Tensor, physics: LinearOperator) -> torch.Tensor:
        from metainv.meta.maml import adapt

        return adapt(self.siren, self.rates, y, physics, self.solver, self.steps, track_meta_gradient=False,
                     final_solver=self.eval_solver, reduction=self.reduction).output


class ClassicalReconstructor(Reconstructor):
    """RED / HQS (DnCNN prior) or TV from x₀ = y with the tuned parameters; logs the
    iterations per image (and a warning when ``tol`` was not reached in ``max_steps``)."""

    def __init__(self, solver, batch_size: int, name: str = "classical"):
        super().__init__(batch_size)
        self.solver, self.name = solver, name
        self.denoiser = solver.denoiser  # registered: .to(device) / eval() reach it

    @torch.no_grad()
    def reconstruct(self, y: torch.Tensor, physics: LinearOperator) -> torch.Tensor:
        return self.solver(None, y, physics)

    @torch.no_grad()
    def reconstruct_all(self, y: torch.Tensor, physics: LinearOperator) -> torch.Tensor:
        x, counts = self.solver.solve_in_batches(y, physics, self.batch_size)
        solver = self.solver
        log.info("%s: %s with %s, iterations per image: min %d, mean %.1f, max %d", self.name, solver.kind,
                 dict(solver.params), int(counts.min()), float(counts.float().mean()), int(counts.max()))
        if solver.tol is not None and int(counts.max()) >= solver.max_steps:
            log.warning("%s: %d of %d images reached max_steps=%d before the relative change fell below %g",
                        self.name, int((counts >= solver.max_steps).sum()), len(counts), solver.max_steps,
                        solver.tol)
        return x


class NetworkReconstructor(Reconstructor):
    """A trained network ``net(y, physics)`` (the UNet, RED/HQS unrolled), in eval mode."""

    def __init__(self, net: nn.Module, batch_size: int):
        super().__init__(batch_size)
        self.net = net.eval()

    @torch.no_grad()
    def reconstruct(self, y: torch.Tensor, physics: LinearOperator) -> torch.Tensor:
        return self.net(y, physics)


class InterpolationReconstructor(Reconstructor):
    """Piecewise-linear interpolation of the observed pixels (:mod:`metainv.solvers.interpolate`);
    needs a mask (inpainting)."""

    def __init__(self, batch_size: int, name: str = "interp"):
        super().__init__(batch_size)
        self.name = name

    def reconstruct(self, y: torch.Tensor, physics: LinearOperator) -> torch.Tensor:
        from metainv.solvers.interpolate import interpolate_batch

        if not isinstance(physics, Mask):
            raise ConfigError(f"config.experiments.{self.name}: method interp needs a masking task, "
                              f"not {type(physics).__name__}")
        mask = physics.mask.expand(len(y), 1, *y.shape[-2:]).cpu().numpy()
        return torch.from_numpy(interpolate_batch(y.cpu().numpy(), mask)).to(y.device)


def _need(files: Mapping[str, str | Path | None], key: str, spec: Mapping) -> Path:
    if files.get(key) is None:
        raise ConfigError(f"{spec['id']}: method {spec['method']} reconstructs from its {key} file "
                          f"(--{key}); none was given")
    return Path(files[key])


def load_reconstructor(spec: Mapping, files: Mapping[str, str | Path | None],
                       device: torch.device | str = "cpu") -> Reconstructor:
    """The reconstructor of an experiment from its spec and files (:data:`FILES`):
    ``model`` (meta / learned model.pt), ``params`` (params.json), ``denoiser`` (DnCNN model.pt)."""
    method = spec["method"]
    if method not in FILES:
        raise ConfigError(f"config.experiments.{spec['id']}.method: no reconstructor for {method!r}")
    if method == "meta":
        from metainv.metamodel import load_meta_model, solver_parts

        state, siren, rates = load_meta_model(_need(files, "model", spec), device)
        # the spec's solver (eval_step_size, data_consistency), the trained solver parameters
        # and fine-tuned DnCNN weights of model.pt
        _, solver, eval_solver = solver_parts(spec, device, files.get("denoiser"), state["solver_params"],
                                              state["denoiser"])
        steps = spec["eval"]["inner_steps"]
        return MetaReconstructor(siren, rates, solver, eval_solver,
                                 spec["inner"]["steps"] if steps is None else steps,
                                 spec["inner"]["loss_reduction"], spec["eval"]["batch_size"])
    if method in ("red", "hqs", "tv"):
        from metainv.classical import classical_solver_config, read_params
        from metainv.denoiser import load_denoiser
        from metainv.solvers import build_solver

        params = read_params(_need(files, "params", spec))
        denoiser = load_denoiser(_need(files, "denoiser", spec), device) if "denoiser" in FILES[method] else None
        solver = build_solver(classical_solver_config(spec), denoiser=denoiser,
                              params=params, key=f"{spec['id']}.classical")
        return ClassicalReconstructor(solver, spec["classical"]["batch_size"], spec["id"])
    if method in ("unet", "unrolled"):
        from metainv.learned import load_learned

        return NetworkReconstructor(load_learned(_need(files, "model", spec), device), spec["eval"]["batch_size"])
    return InterpolationReconstructor(spec["eval"]["batch_size"], spec["id"])


__all__ = ["Reconstructor", "MetaReconstructor", "ClassicalReconstructor", "NetworkReconstructor",
           "InterpolationReconstructor", "load_reconstructor", "FILES"]
