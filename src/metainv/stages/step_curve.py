"""Stage ``step_curve``: PSNR against the number of inner steps, and against seconds per image.

Not in the paper (issue 23; docs: beyond). For each meta experiment of ``config.step_curves.<name>``
its trained model reconstructs the validation split with every number of inner steps k of
``steps`` (Algorithm 1 with ``eval.inner_steps: k``: k = 0 is f(φ_θ), the learned start alone;
steps past ``inner.steps`` reuse the last step's rate), and each classical solver of the curve
runs k steps from y (k = 0: y itself) on the same measurements (:func:`metainv.recon.evaluation_measurement`).
One job loops over every point in-process. The wall-clock seconds of each point (the whole
split, model loading and one untimed warm-up call per curve excluded) are divided by the number of
images.

``step_curve.csv`` (this module owns it), one row per (curve, k)::

    label, kind (meta | gd | red), experiment, steps, images, psnr_mean, psnr_std, seconds_per_image

and the figure (:func:`metainv.report.figures.plot_step_curve`).
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Iterator, Mapping

import pandas as pd
import torch

from metainv.atomic import write_csv
from metainv.data.store import load_split, to_tensor
from metainv.errors import MetainvError
from metainv.metrics import psnr_torch
from metainv.physics import LinearOperator
from metainv.physics import select
from metainv.recon import evaluation_measurement
from metainv.reconstructors import load_reconstructor
from metainv.report.figures import plot_step_curve

log = logging.getLogger(__name__)

#: Columns of step_curve.csv, in order.
COLUMNS = ("label", "kind", "experiment", "steps", "images", "psnr_mean", "psnr_std", "seconds_per_image")


def curve_points(spec: Mapping, y: torch.Tensor, op: LinearOperator, models: Mapping[str, str | Path],
                 params: Mapping[str, str | Path], denoiser_path: str | Path | None, device: torch.device
                 ) -> Iterator[tuple[str, str, str, int, torch.Tensor, float]]:
    """(label, kind, experiment, k, x̂, seconds) for every curve and number of steps k of ``spec``
    (:func:`metainv.config.step_curve_spec`); ``models``: label → meta model.pt, ``params``:
    label → params.json of a red solver."""
    from metainv.classical import read_params
    from metainv.denoiser import load_denoiser
    from metainv.solvers import build_solver

    def meta_at(exp: Mapping, label: str, k: int):
        at_k = copy.deepcopy(dict(exp))
        at_k["eval"] = {**at_k["eval"], "inner_steps": int(k)}
        return load_reconstructor(at_k, {"model": models[label], "denoiser": denoiser_path}, device)

    for label, exp in spec["experiments"].items():
        if label not in models:
            raise MetainvError(f"step curve {label!r}: no model.pt given (--models {label}=PATH)")
        # untimed warm-up with one inner step (the gradient path too): a model's first calls pay one-off costs
        meta_at(exp, label, min(1, max(spec["steps"]))).reconstruct(y[:1], select(op, slice(0, 1)))
        for k in spec["steps"]:
            method = meta_at(exp, label, k)
            start = time.perf_counter()
            x = method.reconstruct_all(y, op)
            yield label, "meta", exp["id"], int(k), x, time.perf_counter() - start
    batch_size = next(iter(spec["experiments"].values()))["eval"]["batch_size"]
    for label, cfg in spec["solvers"].items():
        denoiser, tuned = None, None
        if cfg["kind"] == "red":
            if label not in params or denoiser_path is None:
                raise MetainvError(f"step curve {label!r}: a red solver needs its params.json "
                                   f"(--params {label}=PATH) and the DnCNN (--denoiser)")
            tuned, denoiser = read_params(params[label]), load_denoiser(denoiser_path, device)
        for k in spec["steps"]:
            solver = build_solver({"kind": cfg["kind"], "steps": int(k), "step_size": cfg["step_size"]},
                                  denoiser=denoiser, params=tuned, key=f"step curve {label}")
            if k == spec["steps"][0]:  # untimed warm-up
                solver.solve_in_batches(y[:1], select(op, slice(0, 1)), 1)
            start = time.perf_counter()
            x = solver.solve_in_batches(y, op, batch_size)[0]
            yield label, cfg["kind"], cfg["params_from"] or "", int(k), x, time.perf_counter() - start


def step_curve(spec: Mapping, data_dir: str | Path, models: Mapping[str, str | Path], out_csv: str | Path,
               out_png: str | Path, device: torch.device, params: Mapping[str, str | Path] | None = None,
               denoiser_path: str | Path | None = None) -> Path:
    """Every point of the step curve on the store's validation split: ``step_curve.csv`` and its figure."""
    if not spec["experiments"]:
        raise MetainvError("step curve: no enabled meta experiment to evaluate")
    val = to_tensor(load_split(data_dir, "val"), device)
    op, y = evaluation_measurement(next(iter(spec["experiments"].values())), val)
    rows = []
    for label, kind, eid, k, x, seconds in curve_points(spec, y, op, models, params or {}, denoiser_path, device):
        psnr = psnr_torch(x.float(), val).cpu()
        rows.append({"label": label, "kind": kind, "experiment": eid, "steps": k, "images": len(val),
                     "psnr_mean": float(psnr.mean()), "psnr_std": float(psnr.std()) if len(psnr) > 1 else 0.0,
                     "seconds_per_image": seconds / len(val)})
        log.info("%s, %d steps: %.2f dB, %.4f s per image", label, k, rows[-1]["psnr_mean"],
                 rows[-1]["seconds_per_image"])
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    write_csv(out_csv, frame)
    return plot_step_curve(frame, out_png, spec["title"])


__all__ = ["step_curve", "curve_points", "COLUMNS"]
