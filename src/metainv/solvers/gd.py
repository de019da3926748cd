"""Gradient descent on the data fidelity, the classical solver f of the inpainting task.

Eq. 6:  x ← x − α Aᵀ(A x − y), repeated ``steps`` times from x0. For a mask operator AᵀA is
a projection, so after k steps the observed pixels equal y + (1 − α)ᵏ (x0 − y) and the
missing ones keep x0: f "fills in the surrounding pixels" (paper §4.1.1). With α = 1 the data
loss ‖A f(x0) − y‖² is exactly 0 and carries no gradient, which is why the paper trains with
α = 0.9. Batched and differentiable; ``steps = 0`` is the identity (no solver in the loop,
Table 2).
"""

from __future__ import annotations

import torch

from metainv.physics import LinearOperator


def gradient_descent(x0: torch.Tensor, y: torch.Tensor, op: LinearOperator,
                     step_size: float, steps: int) -> torch.Tensor:
    """``steps`` iterations of x ← x − α Aᵀ(Ax − y) from ``x0`` (Eq. 6)."""
    x = x0
    for _ in range(steps):
        x = x - step_size * op.adjoint(op.forward(x) - y)
    return x
