"""Stage ``tune_classical``: search a RED / HQS baseline's parameters on held-out *training*
images and write ``tuning.csv`` and ``params.json`` (this module owns ``params.json``).

The first ``classical.tune.images`` images of the tuning split (the tail of the training split,
never trained on, :func:`metainv.data.store.split_tuning`) are measured with their own
seed (:data:`metainv.recon.TUNING_SEED_OFFSET`); ``classical.tune.grid`` is searched over the
fixed ``classical.params`` (:func:`metainv.solvers.tuning.grid_search`); a winner on the edge
of a searched range is logged as a warning and flagged in ``tuning.csv`` (``edge``). The
validation split is never read here. ``params.json`` is ``{"params": {...}, "psnr", "images", "source",
"experiment"}``; :func:`read_params` reads it for ``solve_classical`` and Meta-RED.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

import torch

from metainv.atomic import write_csv, write_json
from metainv.data.store import load_split, split_tuning, to_tensor
from metainv.denoiser import load_denoiser
from metainv.recon import TUNING_SEED_OFFSET, measure
from metainv.solvers.tuning import grid_search

log = logging.getLogger(__name__)


def classical_solver_config(spec: Mapping) -> dict[str, Any]:
    """The solver config of a classical experiment: its ``classical`` block, kind = method."""
    return {"kind": spec["method"], **spec["classical"]}


def tune_classical(
    spec: Mapping, denoiser_path: str | Path, data_dir: str | Path,
    table_path: str | Path, params_path: str | Path, device: torch.device,
) -> dict[str, Any]:
    """Grid search for one experiment; write the CSV and the chosen-parameters JSON."""
    cfg = spec["classical"]
    tune = cfg["tune"]
    train = load_split(data_dir, "train", mmap=True)
    _, held = split_tuning(len(train), int(spec["tuning"]))
    x = to_tensor(train[held][: int(tune["images"])], device)
    op, y = measure(spec, x, torch.Generator().manual_seed(int(spec["seed"]) + TUNING_SEED_OFFSET))
    denoiser = load_denoiser(denoiser_path, device)
    frame = grid_search(classical_solver_config(spec), x, y, op, denoiser, cfg["params"], tune["grid"],
                        int(cfg["batch_size"]))
    best = frame[frame.chosen].iloc[0]
    chosen = {"params": {k: _plain(best[k]) for k in cfg["params"] | dict(tune["grid"])},
              "psnr": float(best.psnr_mean), "images": len(x), "source": "tuning split (tail of the training split)",
              "edge": best["edge"].split(";") if best["edge"] else [],
              "experiment": spec["id"]}
    write_csv(table_path, frame)
    write_json(params_path, chosen)
    log.info("%s: chose %s (%.2f dB on %d tuning images)", spec["id"], chosen["params"],
             chosen["psnr"], len(x))
    return chosen


def read_params(path: str | Path | None) -> dict | None:
    """The chosen solver parameters of ``params.json``, or None without a path."""
    if path is None:
        return None
    return dict(json.loads(Path(path).read_text())["params"])


def _plain(value: Any) -> Any:
    """numpy scalar → Python scalar (JSON); None/NaN from a missing grid value → None."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


__all__ = ["tune_classical", "read_params", "classical_solver_config"]
