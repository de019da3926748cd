"""Classical iterative solvers f(x0, y, op) -> x, batched and differentiable.

``make_solver`` turns an experiment's ``solver`` config block into such a callable, so the
meta-learning code never needs to know which solver runs inside its inner loop.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Mapping

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from metainv.physics import LinearOperator
from metainv.solvers.gd import gradient_descent

Solver = Callable[[torch.Tensor, torch.Tensor, LinearOperator], torch.Tensor]


def identity_solver(x0: torch.Tensor, y: torch.Tensor, op: LinearOperator) -> torch.Tensor:
    """No solver in the loop: the SIREN output is the solution (Table 2)."""
    return x0


class CheckpointedDenoiser(nn.Module):
    """A denoiser whose activations are recomputed in the backward pass instead of stored.

    Inside Meta-RED every inner step backpropagates through f RED updates, each calling the
    DnCNN, and the outer step differentiates that again (second order): storing every DnCNN
    activation is what binds memory. ``torch.utils.checkpoint`` (non-reentrant, which supports
    double backward) trades it for one extra forward per call. Exposes the wrapped net's
    ``noise_level`` so noise-level scaling (:func:`denoise_at_level`) is unchanged.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    @property
    def noise_level(self):  # noqa: D401 - mirrors DnCNN's buffer
        return getattr(self.net, "noise_level", None)

    @property
    def sigma0(self):  # noqa: D401 - mirrors DnCNN's Python float (read without a device sync)
        return getattr(self.net, "sigma0", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return self.net(x)
        return checkpoint(self.net, x, use_reentrant=False)


def _red_solver(x0: torch.Tensor, y: torch.Tensor, op: LinearOperator, denoiser: nn.Module,
                steps: int, params: Mapping) -> torch.Tensor:
    from metainv.solvers.red import red

    return red(x0, y, op, denoiser, steps=steps, **params)


def make_solver(spec: Mapping, evaluation: bool = False, denoiser: nn.Module | None = None,
                params: Mapping | None = None) -> Solver:
    """Solver from a ``solver`` config block.

    ``gd``: Eq. 6, ``evaluation`` selects ``eval_step_size``. ``red``: ``steps`` fixed-point
    updates of RED (Romano et al. 2017) with ``denoiser``; its parameters (λ, σ_f, relax) come
    from ``params`` (e.g. tuned for the classical RED baseline) or ``spec["params"]``.
    """
    kind = spec["kind"]
    if kind == "none":
        return identity_solver
    if kind == "gd":
        step = spec.get("eval_step_size", spec["step_size"]) if evaluation else spec["step_size"]
        return partial(gradient_descent, step_size=float(step), steps=int(spec["steps"]))
    if kind == "red":
        if denoiser is None:
            raise ValueError("solver kind 'red' needs a denoiser")
        if spec.get("checkpoint_denoiser", False):
            denoiser = CheckpointedDenoiser(denoiser)
        red_params = dict(spec.get("params") or {}) if params is None else dict(params)
        return partial(_red_solver, denoiser=denoiser, steps=int(spec["steps"]), params=red_params)
    raise ValueError(f"unknown solver kind {kind!r}")
