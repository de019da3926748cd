"""Regularisation by denoising, fixed-point method (Romano, Elad, Milanfar 2017, Sec. 5.2).

RED minimises  E(x) = 1/(2σ²)‖Ax − y‖² + λ/2 · xᵀ(x − D(x)),  whose stationarity condition
(for a locally homogeneous denoiser with symmetric Jacobian) is

    Aᵀ(Ax − y)/σ² + λ (x − D(x)) = 0.

The fixed-point method freezes D at the current iterate and solves the rest exactly:

    x_{k+1} = (AᵀA/σ² + λI)⁻¹ (Aᵀy/σ² + λ D(x_k))
            = (AᵀA + λσ² I)⁻¹ (Aᵀy + λσ² D(x_k)),

the second form (multiplied through by σ²) being what :meth:`Blur.gram_inverse` evaluates in
closed form in Fourier space. σ is the measurement noise level (``op.noise_std``); the
denoiser is applied at level σ_f (:func:`metainv.nets.dncnn.denoise_at_level`).

Relaxation (Krasnosel'skii–Mann): x_{k+1} = (1 − θ) x_k + θ T(x_k) with θ = ``relax`` ∈ (0, 1];
θ = 1 is Romano et al.'s method. It has the same fixed points. Why it exists: where the blur
removes a frequency (|K̂|² ≪ λσ², e.g. Nyquist for a Gaussian), T passes the denoiser's
response there undamped, and a DnCNN whose response to a Nyquist pattern overshoots (gain < −1)
makes the plain iteration settle into a period-2 oscillation instead of converging — seen on
CelebA with a briefly trained DnCNN (relative change stuck at ~3 % per step, ~0.1 % per two
steps). θ < 1 maps such a gain g to 1 − θ + θg and restores convergence.

Everything is batched over N×C×H×W and differentiable (w.r.t. x0, y, λ, σ_f and, when they
require grad, the denoiser's weights).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from metainv.nets.dncnn import denoise_at_level
from metainv.solvers.iterate import fixed_point_iterations, relaxed


def _noise_std(op: Any, noise_std: float | None) -> float:
    sigma = float(op.noise_std if noise_std is None else noise_std)
    if sigma <= 0:
        raise ValueError("RED's data term is weighted by 1/σ²: the operator's noise_std must be > 0 "
                         "(or pass noise_std=...)")
    return sigma


def red_step(
    x: torch.Tensor, y: torch.Tensor, op: Any, denoiser: nn.Module,
    lam: float | torch.Tensor, sigma_f: float | torch.Tensor | None, noise_std: float,
    aty: torch.Tensor | None = None, relax: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """One fixed-point update x ↦ (1 − θ)x + θ (AᵀA + λσ²I)⁻¹(Aᵀy + λσ² D_{σ_f}(x))."""
    rho = lam * noise_std**2
    aty = op.adjoint(y) if aty is None else aty
    update = op.gram_inverse(aty + rho * denoise_at_level(denoiser, x, sigma_f), rho)
    return relaxed(x, update, relax)


def red(
    x0: torch.Tensor | None,
    y: torch.Tensor,
    op: Any,
    denoiser: nn.Module,
    *,
    steps: int,
    tol: float | None = None,
    max_steps: int = 500,
    lam: float | torch.Tensor = 0.1,
    sigma_f: float | torch.Tensor | None = 0.05,
    noise_std: float | None = None,
    relax: float | torch.Tensor = 1.0,
    return_info: bool = False,
):
    """Run RED's fixed-point iteration from ``x0`` (``op.input_image(y)`` when None).

    With ``tol`` None: exactly ``steps`` updates. With ``tol``: update until every image's
    relative change ‖x_{k+1} − x_k‖/‖x_k‖ is below ``tol`` (an image that has converged is
    frozen), at most ``max_steps`` updates. ``noise_std`` overrides ``op.noise_std`` (σ);
    ``relax`` is θ (1 = the plain fixed-point method).

    Returns x (N×C×H×W), or (x, info) with info = {"steps": per-image update counts,
    "rel_change": per-image last relative change} when ``return_info``.
    """
    sigma = _noise_std(op, noise_std)
    if not torch.is_tensor(relax) and not 0 < relax <= 1:
        raise ValueError(f"relax must lie in (0, 1], got {relax}")
    x = op.input_image(y) if x0 is None else x0
    aty = op.adjoint(y)

    def update(x_k: torch.Tensor, _: int) -> torch.Tensor:
        return red_step(x_k, y, op, denoiser, lam, sigma_f, sigma, aty, relax)

    x, info = fixed_point_iterations(update, x, steps=steps, tol=tol, max_steps=max_steps)
    return (x, info) if return_info else x


def red_residual(
    x: torch.Tensor, y: torch.Tensor, op: Any, denoiser: nn.Module,
    lam: float | torch.Tensor, sigma_f: float | torch.Tensor | None, noise_std: float | None = None,
) -> torch.Tensor:
    """Per-image relative residual of RED's stationarity condition,
    ‖Aᵀ(Ax − y)/σ² + λ(x − D(x))‖ / ‖Aᵀy/σ² + λ D(x)‖ (zero at a fixed point)."""
    sigma = _noise_std(op, noise_std)
    d = denoise_at_level(denoiser, x, sigma_f)
    grad = op.adjoint(op.forward(x) - y) / sigma**2 + lam * (x - d)
    scale = op.adjoint(y) / sigma**2 + lam * d
    return grad.flatten(1).norm(dim=1) / scale.flatten(1).norm(dim=1)


__all__ = ["red", "red_step", "red_residual"]
