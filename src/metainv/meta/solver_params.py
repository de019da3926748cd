"""f's own parameters, meta-learned: Meta-RED's λ_f and σ_f trained by the outer loop.

The paper is silent on the parameters of the RED solver inside Meta-RED. Borrowing the
classical RED(12)'s (tuned so that twelve steps from y forget their start) starves the inner
loop: with ρ = λσ² small, the map x₀ ↦ A·f(x₀) has a gain |K̂|·(ρ/(|K̂|² + ρ))^s far below 1
and the inner gradient has almost nothing to act on (docs: decisions, "Meta-RED's own λ_f").
Here the chosen parameters p ∈ {λ, σ_f} are trained in log space, p = exp(s), by the outer
optimiser alongside θ and α (RED is differentiable in both), so Adam moves each by a bounded
factor per step, and p stays positive. The others keep their configured values.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import torch
from torch import nn

from metainv.solvers import Solver

#: Solver parameters the outer loop may learn (RED's; both enter f differentiably).
LEARNABLE = ("lam", "sigma_f")


class LearnedSolverParameters(nn.Module):
    """f's parameters: ``learn`` ones as p = exp(s) with s trained, the rest fixed numbers."""

    def __init__(self, params: Mapping[str, float | None], learn: Sequence[str] = ()):
        super().__init__()
        unknown = [k for k in learn if k not in LEARNABLE]
        if unknown:
            raise ValueError(f"solver.learn: {unknown} cannot be learned; learnable: {list(LEARNABLE)}")
        for k in learn:
            if params.get(k) is None or not params[k] > 0:
                raise ValueError(f"solver.learn: {k} needs a positive starting value, got {params.get(k)!r}")
        self.fixed = {k: v for k, v in params.items() if k not in learn}
        self.log_values = nn.ParameterDict(
            {k: nn.Parameter(torch.tensor(math.log(float(params[k])))) for k in learn})

    def values(self) -> dict[str, float | torch.Tensor | None]:
        """The parameters f is called with: tensors (in the graph) for the learned ones."""
        return {**self.fixed, **{k: s.exp() for k, s in self.log_values.items()}}

    @torch.no_grad()
    def numbers(self) -> dict[str, float | None]:
        """The current parameters as plain numbers (what model.pt records)."""
        return {**self.fixed, **{k: float(s.exp()) for k, s in self.log_values.items()}}

    def summary(self) -> dict[str, float]:
        """``solver_<name>`` of each learned parameter, for the training log."""
        return {f"solver_{k}": v for k, v in self.numbers().items() if k in self.log_values}

    def apply(self, solver: Solver) -> Solver:
        """``solver`` with these parameters."""
        return dataclasses.replace(solver, params=self.values()) if self.log_values else solver


__all__ = ["LEARNABLE", "LearnedSolverParameters"]
