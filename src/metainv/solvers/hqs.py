"""Half-quadratic splitting with a denoiser prior, as in DPIR (Zhang et al. 2021, Sec. 4).

HQS splits min_x 1/(2σ²)‖Ax − y‖² + λ Φ(x) with an auxiliary z and alternates

    data step   z_k = argmin_z ‖Az − y‖² + ρ_k ‖z − x_{k−1}‖² = (AᵀA + ρ_k I)⁻¹ (Aᵀy + ρ_k x_{k−1})
    prior step  x_k = D_{σ_k}(z_k)

with DPIR's schedule: σ_k decreasing geometrically from ``sigma_start`` to ``sigma_end``
over ``schedule_steps`` iterations (then held at ``sigma_end``), and ρ_k = λ σ² / σ_k²
(σ = measurement noise level, floored at 0.255/255 as in DPIR's code). The data step is
closed form in Fourier space (:meth:`Blur.gram_inverse`).

The schedule reaches a DnCNN trained at one level σ₀ through input scaling,
D_{σ_k}(z) = D_{σ₀}(s z)/s with s = σ₀/σ_k (:func:`metainv.nets.dncnn.denoise_at_level`):
the prior step of HQS is a Gaussian denoising problem at level σ_k = √(λ/ρ_k)·σ, so the
denoiser must remove that much noise; scaling the input is the only knob a fixed-σ network
has that changes how much it removes, and it keeps the network's input noise at the level it
was trained on.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from metainv.nets.dncnn import denoise_at_level
from metainv.solvers.iterate import fixed_point_iterations, relaxed

DPIR_MIN_NOISE = 0.255 / 255.0


def hqs_schedule(
    steps: int, noise_std: float, lam: float | torch.Tensor, sigma_start: float, sigma_end: float | None = None,
) -> tuple[list[float], list[float | torch.Tensor]]:
    """(σ_k, ρ_k) for k = 0..steps−1: σ_k geometric from ``sigma_start`` to ``sigma_end``
    (default: the measurement noise level), ρ_k = λ·σ²/σ_k²."""
    sigma = max(float(noise_std), DPIR_MIN_NOISE)
    sigma_end = sigma if sigma_end is None else float(sigma_end)
    if steps < 1:
        return [], []
    if steps == 1:
        sigmas = [sigma_end]
    else:
        a, b = math.log(sigma_start), math.log(sigma_end)
        sigmas = [math.exp(a + (b - a) * k / (steps - 1)) for k in range(steps)]
    rhos = [lam * sigma**2 / s**2 for s in sigmas]
    return sigmas, rhos


def hqs_step(
    x: torch.Tensor, aty: torch.Tensor, op: Any, denoiser: nn.Module,
    rho: float | torch.Tensor, sigma_k: float | torch.Tensor | None, relax: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """One HQS iteration: closed-form data step at ρ_k, then the denoiser at level σ_k;
    with ``relax`` θ < 1 the result is x + θ(D(z) − x) (same fixed points)."""
    z = op.gram_inverse(aty + rho * x, rho)
    update = denoise_at_level(denoiser, z, sigma_k)
    return relaxed(x, update, relax)


def hqs(
    x0: torch.Tensor | None,
    y: torch.Tensor,
    op: Any,
    denoiser: nn.Module,
    *,
    steps: int,
    tol: float | None = None,
    max_steps: int = 500,
    lam: float | torch.Tensor = 0.23,
    sigma_start: float = 49.0 / 255.0,
    sigma_end: float | None = None,
    schedule_steps: int | None = None,
    noise_std: float | None = None,
    relax: float | torch.Tensor = 1.0,
    return_info: bool = False,
):
    """Run HQS from ``x0`` (``op.input_image(y)`` when None).

    ``schedule_steps`` (default ``steps``) is the length of the decreasing σ_k schedule;
    iterations beyond it use the final (σ_end, ρ_end). With ``tol`` None: exactly ``steps``
    iterations. With ``tol``: iterate until every image's relative change is below ``tol``,
    at most ``max_steps`` (and never stop inside the schedule: the change is large by design
    while σ_k still decreases). Defaults λ = 0.23, σ_1 = 49/255 are DPIR's for deblurring.
    ``relax`` θ applies to the iterations after the schedule (θ = 1: plain HQS): held at
    σ_end, the map x ↦ D(z(x)) can oscillate at frequencies the blur removes, exactly as
    RED's does (see :mod:`metainv.solvers.red`), and θ < 1 damps that without moving its
    fixed points; the schedule itself stays DPIR's.

    Returns x, or (x, info) as :func:`metainv.solvers.red.red` does.
    """
    sigma = float(op.noise_std if noise_std is None else noise_std)
    if not torch.is_tensor(relax) and not 0 < relax <= 1:
        raise ValueError(f"relax must lie in (0, 1], got {relax}")
    n_sched = int(steps if schedule_steps is None else schedule_steps)
    sigmas, rhos = hqs_schedule(n_sched, sigma, lam, sigma_start, sigma_end)
    if not sigmas:
        raise ValueError("HQS needs schedule_steps ≥ 1")
    x = op.input_image(y) if x0 is None else x0
    aty = op.adjoint(y)

    def update(x_k: torch.Tensor, k: int) -> torch.Tensor:
        j = min(k, n_sched - 1)
        return hqs_step(x_k, aty, op, denoiser, rhos[j], sigmas[j], relax if k >= n_sched else 1.0)

    if tol is None:
        x, info = fixed_point_iterations(update, x, steps=steps)
    else:
        # run the schedule first, then iterate at the final level until the change is small
        x, head = fixed_point_iterations(update, x, steps=n_sched)
        tail_update = lambda x_k, k: update(x_k, n_sched + k)  # noqa: E731
        x, info = fixed_point_iterations(tail_update, x, steps=0, tol=tol,
                                         max_steps=max(1, max_steps - n_sched))
        info["steps"] = info["steps"] + head["steps"]
    return (x, info) if return_info else x


__all__ = ["hqs", "hqs_step", "hqs_schedule"]
