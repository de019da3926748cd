"""Total-variation regularised least squares by ADMM: a classical reference that needs no
learned prior (not in the paper; issue 19's "least squares with a TV prior").

The problem min_x ½‖Ax − y‖² + λ TV(x), TV(x) = Σ_pixels ‖∇x‖₂ per colour channel (isotropic,
deepinv's :class:`~deepinv.optim.TVPrior`), is split as in :mod:`metainv.solvers.hqs` with an
auxiliary z = x and a penalty ρ, plus the scaled dual variable u that makes the splitting exact
(ADMM, Boyd et al. 2011, §3.1; HQS is u ≡ 0):

    data step   z_k = (AᵀA + ρI)⁻¹ (Aᵀy + ρ (x_{k−1} − u_{k−1}))   (the operator's ``gram_inverse``)
    prior step  x_k = prox_{(λ/ρ) TV}(z_k + u_{k−1})                 (deepinv's TV denoiser)
    dual step   u_k = u_{k−1} + z_k − x_k

from x₀ = the operator's input image, u₀ = 0. It converges to the minimiser for every ρ > 0;
ρ only sets how fast (what a fixed step budget reaches). Without u (plain HQS at a fixed ρ)
the iteration settles on the minimiser of ½‖Az − y‖² + ρ/2‖z − x‖² + λ TV(x) instead, far from
the TV solution unless ρ is large and the steps many (docs: decisions, "TV"). The TV proximal
operator is deepinv's :class:`~deepinv.models.TVDenoiser` (the prox of
:class:`~deepinv.optim.TVPrior`: over-relaxed Chambolle–Pock, Condat 2013), run for exactly
:data:`PROX_ITERATIONS` iterations per step and warm-started from the previous step's primal
and dual variables, so the prox is cheap and each image's result is independent of its batch
(no batch-wide stopping test). Not differentiable across steps (the warm start is detached):
a classical baseline only, never a meta solver.
"""

from __future__ import annotations

from typing import Any

import torch

from metainv.solvers.iterate import fixed_point_iterations

#: Chambolle–Pock iterations of the TV prox per HQS step (warm-started, so the prox of step k
#: continues the iterations of step k − 1).
PROX_ITERATIONS = 10
#: Its primal step τ; the dual step is 1/(8τ) (8 = ‖∇‖², the step condition with equality).
#: τ = 1/√8 makes the two equal; deepinv's default τ = 0.01 left the prox far from converged
#: after 10 warm-started iterations (docs: decisions, "TV").
PROX_STEP = 8**-0.5


def tv_objective(x: torch.Tensor, y: torch.Tensor, op: Any, lam: float) -> torch.Tensor:
    """Per-image ½‖Ax − y‖² + λ TV(x)."""
    from deepinv.optim import TVPrior

    residual = (op.forward(x) - y).flatten(1)
    return 0.5 * (residual**2).sum(1) + lam * TVPrior().fn(x)


def tv_admm(
    x0: torch.Tensor | None,
    y: torch.Tensor,
    op: Any,
    *,
    steps: int,
    lam: float,
    rho: float,
    tol: float | None = None,
    max_steps: int = 500,
    return_info: bool = False,
):
    """Run TV-regularised ADMM from ``x0`` (``op.input_image(y)`` when None): ``steps``
    iterations, or with ``tol`` until each image's relative change is below it (at most
    ``max_steps``). ``lam`` = λ, the TV weight; ``rho`` = ρ, the splitting penalty. The relative change
    is that of x (the prior step's output, which is also what is returned).

    Returns x, or (x, info) as :func:`metainv.solvers.red.red` does.
    """
    from deepinv.models import TVDenoiser

    if lam <= 0 or rho <= 0:
        raise ValueError(f"lam and rho must be > 0, got {lam}, {rho}")
    # a new denoiser per solve: deepinv's TV denoiser keeps its warm start between calls
    prox = TVDenoiser(tau=PROX_STEP, n_it_max=PROX_ITERATIONS, crit=0.0)
    x = op.input_image(y) if x0 is None else x0
    aty = op.adjoint(y)
    dual = {"u": torch.zeros_like(x)}  # the scaled dual variable, carried across steps

    def update(x_k: torch.Tensor, k: int) -> torch.Tensor:
        u = dual["u"]
        z = op.gram_inverse(aty + rho * (x_k - u), rho)
        x_next = prox(z + u, ths=lam / rho)
        dual["u"] = u + z - x_next
        return x_next

    if tol is None:
        x, info = fixed_point_iterations(update, x, steps=steps)
    else:
        x, info = fixed_point_iterations(update, x, steps=0, tol=tol, max_steps=max_steps)
    return (x, info) if return_info else x


__all__ = ["tv_admm", "tv_objective", "PROX_ITERATIONS"]
