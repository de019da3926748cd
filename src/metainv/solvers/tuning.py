"""Parameter search for a classical solver: the best combination of a grid by mean PSNR.

The grid is the Cartesian product of lists per parameter over fixed ``base`` parameters; every
combination solves the same measurements (x, y). Where those images come from — held-out
*training* images, never the validation split — is the stage's business
(:mod:`metainv.stages.tune_classical`).
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Mapping

import pandas as pd
import torch
from torch import nn

from metainv.metrics import psnr_torch
from metainv.solvers import build_solver, check_params

log = logging.getLogger(__name__)


def parameter_grid(base: Mapping[str, Any], grid: Mapping[str, list]) -> list[dict[str, Any]]:
    """All combinations of ``grid`` over ``base`` (``base`` alone when the grid is empty)."""
    names = list(grid)
    combos = []
    for values in itertools.product(*(grid[n] for n in names)):
        combos.append({**base, **dict(zip(names, values))})
    return combos or [dict(base)]


def grid_edges(params: Mapping[str, Any], grid: Mapping[str, list]) -> str:
    """Which searched parameters of ``params`` sit on the edge of their grid, as
    ``"lam:lowest;sigma_f:highest"`` ('' when none). A parameter with one grid value is not
    searched; with two, every winner is on an edge (the grid cannot bracket an optimum)."""
    edges = []
    for name, values in grid.items():
        if len(values) < 2 or params.get(name) is None:
            continue
        if params[name] == min(values):
            edges.append(f"{name}:lowest")
        elif params[name] == max(values):
            edges.append(f"{name}:highest")
    return ";".join(edges)


def grid_search(
    config: Mapping[str, Any], x: torch.Tensor, y: torch.Tensor, op: Any, denoiser: nn.Module,
    base: Mapping[str, Any], grid: Mapping[str, list], batch_size: int,
) -> pd.DataFrame:
    """Solve (x, y) with every combination; one row per combination, the best marked ``chosen``.

    Column ``edge`` (:func:`grid_edges`) names the searched parameters at the end of their
    range; a winner there is logged as a warning: the optimum may lie outside the grid.

    ``config`` is the solver config (:func:`metainv.solvers.build_solver`: kind, steps, tol,
    max_steps); each combination replaces its ``params``.
    """
    kind = config["kind"]
    rows = []
    for params in parameter_grid(base, grid):
        check_params(kind, params)
        solver = build_solver(config, denoiser=denoiser, params=params)
        out, counts = solver.solve_in_batches(y, op, batch_size)
        finite = bool(torch.isfinite(out).all())
        psnr = psnr_torch(torch.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0), x)
        rows.append({**params, "psnr_mean": float(psnr.mean()) if finite else float("nan"),
                     "psnr_std": float(psnr.std()) if len(psnr) > 1 else 0.0,
                     "iterations_mean": float(counts.float().mean()), "iterations_max": int(counts.max()),
                     "edge": grid_edges(params, grid)})
        log.info("%s %s: PSNR %.2f dB, %.1f iterations", kind, params, rows[-1]["psnr_mean"],
                 rows[-1]["iterations_mean"])
    frame = pd.DataFrame(rows)
    if frame.psnr_mean.isna().all():
        raise RuntimeError(f"{kind}: every parameter combination diverged (non-finite output)")
    frame["chosen"] = False
    best = frame.psnr_mean.idxmax()
    frame.loc[best, "chosen"] = True
    if frame.loc[best, "edge"]:
        log.warning("%s: the best parameters sit on the edge of the grid (%s); widen it: the optimum "
                    "may lie outside", kind, frame.loc[best, "edge"])
    return frame


__all__ = ["parameter_grid", "grid_edges", "grid_search"]
