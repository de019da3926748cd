"""Classical plug-and-play baselines (RED, HQS) as experiments: parameters, batches, recon.npz.

An experiment with ``method: red`` or ``method: hqs`` carries a ``classical`` block::

    classical:
      steps: 12          # iterations (HQS: also the length of the σ_k schedule)
      tol: null          # relative-change tolerance: run to convergence, at most max_steps
      max_steps: 300
      batch_size: 50
      params: {...}      # solver parameters (RED: lam, sigma_f, relax; HQS: lam, sigma_start, sigma_end, relax)
      tune: {images, grid: {name: [values]}}   # search on held-out *training* images

:func:`run_solver` is the one place that maps (method, params) onto :func:`red` / :func:`hqs`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from metainv.solvers.hqs import hqs
from metainv.solvers.red import red

log = logging.getLogger(__name__)

PARAMETERS = {
    "red": ("lam", "sigma_f", "relax"),
    "hqs": ("lam", "sigma_start", "sigma_end", "relax"),
}


def check_params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The solver parameters of ``method`` from ``params``; unknown names are an error."""
    if method not in PARAMETERS:
        raise ValueError(f"unknown classical method {method!r}; known: {sorted(PARAMETERS)}")
    unknown = set(params) - set(PARAMETERS[method])
    if unknown:
        raise ValueError(f"{method}: unknown parameter(s) {sorted(unknown)}; known: {PARAMETERS[method]}")
    return dict(params)


def run_solver(
    method: str, y: torch.Tensor, op: Any, denoiser: nn.Module, params: Mapping[str, Any],
    steps: int, tol: float | None = None, max_steps: int = 300, x0: torch.Tensor | None = None,
    return_info: bool = False,
):
    """RED or HQS on a batch with ``params`` (see :data:`PARAMETERS`)."""
    params = check_params(method, params)
    if method == "red":
        return red(x0, y, op, denoiser, steps=steps, tol=tol, max_steps=max_steps,
                   return_info=return_info, **params)
    return hqs(x0, y, op, denoiser, steps=steps, tol=tol, max_steps=max_steps, schedule_steps=steps,
               return_info=return_info, **params)


@torch.no_grad()
def solve_in_batches(
    method: str, y: torch.Tensor, op: Any, denoiser: nn.Module, params: Mapping[str, Any],
    steps: int, tol: float | None, max_steps: int, batch_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve all of ``y`` in memory-sized batches (each batch is one batched solve);
    returns (x, per-image iteration counts). The blur operator is shared by all images."""
    outs, counts = [], []
    for start in range(0, len(y), batch_size):
        x, info = run_solver(method, y[start : start + batch_size], op, denoiser, params, steps, tol,
                             max_steps, return_info=True)
        outs.append(x)
        counts.append(info["steps"])
    return torch.cat(outs), torch.cat(counts)


def reconstruct_classical(
    spec: Mapping, denoiser_path: str | Path, params_path: str | Path, data_dir: str | Path,
    out_path: str | Path, device: torch.device,
) -> Path:
    """Run the experiment's solver with the tuned parameters on every validation image and
    write ``recon.npz`` (the foundation's format). The measurement stored beside the
    reconstructions is the blurred observation y itself — the solvers' starting point and
    the "blurred input" baseline of Table 3 (for a blur, Aᵀy would blur a second time)."""
    from metainv.data.store import load_split, to_tensor
    from metainv.denoiser import load_denoiser
    from metainv.meta.experiment import evaluation_seed, measure, save_reconstruction

    method = spec["method"]
    cfg = spec["classical"]
    params = json.loads(Path(params_path).read_text())["params"]
    denoiser = load_denoiser(denoiser_path, device)
    val = to_tensor(load_split(data_dir, "val"), device)
    op, y = measure(spec, val, torch.Generator().manual_seed(evaluation_seed(spec)))
    x, counts = solve_in_batches(method, y, op, denoiser, params, int(cfg["steps"]), cfg.get("tol"),
                                 int(cfg["max_steps"]), int(cfg["batch_size"]))
    log.info("%s: %s with %s, iterations per image: min %d, mean %.1f, max %d", spec["id"], method, params,
             int(counts.min()), float(counts.float().mean()), int(counts.max()))
    if cfg.get("tol") is not None and int(counts.max()) >= int(cfg["max_steps"]):
        log.warning("%s: %d of %d images reached max_steps=%d before the relative change fell below %g",
                    spec["id"], int((counts >= int(cfg["max_steps"])).sum()), len(counts), int(cfg["max_steps"]),
                    cfg["tol"])
    return save_reconstruction(out_path, x, y, op)


__all__ = ["PARAMETERS", "check_params", "run_solver", "solve_in_batches", "reconstruct_classical"]
