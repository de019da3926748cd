"""Stage ``tune_classical``: search a RED / HQS / TV baseline's parameters on held-out *training*
images and write ``tuning.csv`` and ``params.json`` (:mod:`metainv.classical`'s format).

The first ``classical.tune.images`` images of the tuning split (the tail of the training split,
never trained on, :func:`metainv.data.store.split_tuning`) are measured with their own
seed (:func:`metainv.recon.tuning_seed`); ``classical.tune.grid`` is searched over the
fixed ``classical.params`` (:func:`metainv.solvers.tuning.grid_search`); a winner on the edge
of a searched range is logged as a warning and flagged in ``tuning.csv`` (``edge``). The
validation split is never read here. ``params.json`` is ``{"params": {...}, "psnr", "images", "source",
"edge", "experiment"}``; :func:`metainv.classical.read_params` reads it for the classical
reconstructor, Meta-RED and the unrolled baselines.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import torch

from metainv.atomic import write_csv
from metainv.classical import classical_solver_config, write_params
from metainv.data.store import load_split, split_tuning, to_tensor
from metainv.denoiser import load_denoiser
from metainv.errors import ConfigError
from metainv.recon import tuning_measurement
from metainv.solvers import DENOISING
from metainv.solvers.tuning import grid_search

log = logging.getLogger(__name__)


def tune_classical(
    spec: Mapping, denoiser_path: str | Path | None, data_dir: str | Path,
    table_path: str | Path, params_path: str | Path, device: torch.device,
) -> dict[str, Any]:
    """Grid search for one experiment; write the CSV and the chosen-parameters JSON. RED and
    HQS need the DnCNN (``denoiser_path``); TV has no learned prior."""
    cfg = spec["classical"]
    tune = cfg["tune"]
    train = load_split(data_dir, "train", mmap=True)
    _, held = split_tuning(len(train), int(spec["tuning"]))
    x = to_tensor(train[held][: int(tune["images"])], device)
    op, y = tuning_measurement(spec, x)
    denoiser = None
    if spec["method"] in DENOISING:
        if denoiser_path is None:
            raise ConfigError(f"{spec['id']}: method {spec['method']} needs the trained DnCNN (--denoiser)")
        denoiser = load_denoiser(denoiser_path, device)
    frame = grid_search(classical_solver_config(spec), x, y, op, denoiser, cfg["params"], tune["grid"],
                        int(cfg["batch_size"]))
    best = frame[frame.chosen].iloc[0]
    chosen = {"params": {k: _plain(best[k]) for k in cfg["params"] | dict(tune["grid"])},
              "psnr": float(best.psnr_mean), "images": len(x), "source": "tuning split (tail of the training split)",
              "edge": best["edge"].split(";") if best["edge"] else [],
              "experiment": spec["id"]}
    write_csv(table_path, frame)
    write_params(params_path, chosen)
    log.info("%s: chose %s (%.2f dB on %d tuning images)", spec["id"], chosen["params"],
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


__all__ = ["tune_classical"]
