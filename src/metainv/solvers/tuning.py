"""Parameter search for the classical baselines on held-out *training* images.

The grid is the Cartesian product of ``classical.tune.grid`` (lists per parameter) over the
fixed ``classical.params``; every combination solves the same measurements of the first
``classical.tune.images`` held-out training images (the tail of the training split that the
DnCNN never saw, see :func:`metainv.denoiser.split_holdout`), drawn with their own seed. The
combination with the highest mean PSNR wins. The validation split is never read here.

Outputs: a CSV with one row per combination (parameters, mean/std PSNR, mean iterations,
``chosen``) and a JSON ``{"params": {...}, "psnr": ..., ...}`` that :func:`reconstruct_classical`
reads.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import torch
from torch import nn

from metainv.metrics import psnr_torch
from metainv.solvers.classical import check_params, solve_in_batches

log = logging.getLogger(__name__)

TUNING_SEED_OFFSET = 2000  # measurements of the tuning images: seed + 2000 (evaluation: + 1000)


def parameter_grid(base: Mapping[str, Any], grid: Mapping[str, list]) -> list[dict[str, Any]]:
    """All combinations of ``grid`` over ``base`` (``base`` alone when the grid is empty)."""
    names = list(grid)
    combos = []
    for values in itertools.product(*(grid[n] for n in names)):
        combos.append({**base, **dict(zip(names, values))})
    return combos or [dict(base)]


def grid_search(
    method: str, x: torch.Tensor, y: torch.Tensor, op: Any, denoiser: nn.Module,
    base: Mapping[str, Any], grid: Mapping[str, list], steps: int, tol: float | None,
    max_steps: int, batch_size: int,
) -> pd.DataFrame:
    """Solve (x, y) with every combination; one row per combination, best first marked."""
    rows = []
    for params in parameter_grid(base, grid):
        check_params(method, params)
        out, counts = solve_in_batches(method, y, op, denoiser, params, steps, tol, max_steps, batch_size)
        finite = bool(torch.isfinite(out).all())
        psnr = psnr_torch(torch.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0), x)
        rows.append({**params, "psnr_mean": float(psnr.mean()) if finite else float("nan"),
                     "psnr_std": float(psnr.std()) if len(psnr) > 1 else 0.0,
                     "iterations_mean": float(counts.float().mean()), "iterations_max": int(counts.max())})
        log.info("%s %s: PSNR %.2f dB, %.1f iterations", method, params, rows[-1]["psnr_mean"],
                 rows[-1]["iterations_mean"])
    frame = pd.DataFrame(rows)
    if frame.psnr_mean.isna().all():
        raise RuntimeError(f"{method}: every parameter combination diverged (non-finite output)")
    frame["chosen"] = False
    frame.loc[frame.psnr_mean.idxmax(), "chosen"] = True
    return frame


def tune_classical(
    spec: Mapping, denoiser_path: str | Path, holdout: int, data_dir: str | Path,
    table_path: str | Path, params_path: str | Path, device: torch.device,
) -> dict[str, Any]:
    """Grid search for one experiment; write the CSV and the chosen-parameters JSON."""
    from metainv.data.store import load_split, to_tensor
    from metainv.denoiser import load_denoiser, split_holdout
    from metainv.meta.experiment import measure

    method, cfg = spec["method"], spec["classical"]
    tune = cfg["tune"]
    train = load_split(data_dir, "train", mmap=True)
    _, held = split_holdout(len(train), int(holdout))
    x = to_tensor(train[held][: int(tune["images"])], device)
    op, y = measure(spec, x, torch.Generator().manual_seed(int(spec["seed"]) + TUNING_SEED_OFFSET))
    denoiser = load_denoiser(denoiser_path, device)
    frame = grid_search(method, x, y, op, denoiser, cfg["params"], tune["grid"], int(cfg["steps"]),
                        cfg.get("tol"), int(cfg["max_steps"]), int(cfg["batch_size"]))
    best = frame[frame.chosen].iloc[0]
    chosen = {"params": {k: _plain(best[k]) for k in cfg["params"] | dict(tune["grid"])},
              "psnr": float(best.psnr_mean), "images": len(x), "source": "held-out training images",
              "experiment": spec["id"]}
    for path in (table_path, params_path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(table_path) + ".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, table_path)
    tmp = Path(str(params_path) + ".tmp")
    tmp.write_text(json.dumps(chosen, indent=1))
    os.replace(tmp, params_path)
    log.info("%s: chose %s (%.2f dB on %d held-out training images)", spec["id"], chosen["params"],
             chosen["psnr"], len(x))
    return chosen


def _plain(value: Any) -> Any:
    """numpy scalar → Python scalar (JSON); None/NaN from a missing grid value → None."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


__all__ = ["parameter_grid", "grid_search", "tune_classical", "TUNING_SEED_OFFSET"]
