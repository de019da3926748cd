"""Shared driver for batched fixed-point iterations (used by RED and HQS).

Fixed budget: x_{k+1} = T_k(x_k) for k < steps. With a tolerance: iterate until each image's
relative change ‖x_{k+1} − x_k‖ / ‖x_k‖ drops below ``tol``; converged images are frozen
(``torch.where``), so an image's result does not depend on which batch it was solved in,
and the loop ends when all have converged or after ``max_steps`` updates.
"""

from __future__ import annotations

from typing import Callable

import torch

Update = Callable[[torch.Tensor, int], torch.Tensor]


def relative_change(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Per-image ‖new − old‖ / max(‖old‖, tiny) over N×…."""
    diff = (new - old).flatten(1).norm(dim=1)
    return diff / old.flatten(1).norm(dim=1).clamp_min(torch.finfo(old.dtype).tiny)


def fixed_point_iterations(
    update: Update, x: torch.Tensor, steps: int, tol: float | None = None, max_steps: int = 500,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Iterate ``update(x, k)``; return (x, {"steps": N counts, "rel_change": N last changes})."""
    n = x.shape[0]
    counts = torch.zeros(n, dtype=torch.long, device=x.device)
    change = torch.full((n,), float("inf"), dtype=x.dtype, device=x.device)
    if tol is None:
        if steps < 0:
            raise ValueError("steps must be ≥ 0")
        for k in range(steps):
            new = update(x, k)
            change = relative_change(new.detach(), x.detach())
            x = new
        counts += steps
        return x, {"steps": counts, "rel_change": change}
    if tol <= 0 or max_steps < 1:
        raise ValueError("tol must be > 0 and max_steps ≥ 1")
    active = torch.ones(n, dtype=torch.bool, device=x.device)
    for k in range(max_steps):
        new = update(x, k)
        step_change = relative_change(new.detach(), x.detach())
        change = torch.where(active, step_change, change)
        counts += active.long()
        x = torch.where(active.view(-1, *([1] * (x.ndim - 1))), new, x)
        active = active & (step_change >= tol)
        if not bool(active.any()):
            break
    return x, {"steps": counts, "rel_change": change}


__all__ = ["fixed_point_iterations", "relative_change"]


def relaxed(x: torch.Tensor, update: torch.Tensor, relax: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Relaxed fixed-point step x + θ(T(x) − x): the same fixed points as T, damped for θ < 1."""
    if isinstance(relax, (int, float)) and relax == 1:
        return update
    return x + relax * (update - x)
