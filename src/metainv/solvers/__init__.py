"""Classical iterative solvers f(x0, y, op) -> x, batched and differentiable.

``make_solver`` turns an experiment's ``solver`` config block into such a callable, so the
meta-learning code never needs to know which solver runs inside its inner loop.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Mapping

import torch

from metainv.physics import LinearOperator
from metainv.solvers.gd import gradient_descent

Solver = Callable[[torch.Tensor, torch.Tensor, LinearOperator], torch.Tensor]


def identity_solver(x0: torch.Tensor, y: torch.Tensor, op: LinearOperator) -> torch.Tensor:
    """No solver in the loop: the SIREN output is the solution (Table 2)."""
    return x0


def make_solver(spec: Mapping, evaluation: bool = False) -> Solver:
    """Solver from a ``solver`` config block; ``evaluation`` selects ``eval_step_size``."""
    kind = spec["kind"]
    if kind == "none":
        return identity_solver
    if kind == "gd":
        step = spec.get("eval_step_size", spec["step_size"]) if evaluation else spec["step_size"]
        return partial(gradient_descent, step_size=float(step), steps=int(spec["steps"]))
    raise ValueError(f"unknown solver kind {kind!r}")
