"""How many outer steps, which lr, inner-loss reduction and which λ_f, σ_f of its own solver f
does Meta-RED need? (issues 10 and 22)

Trains a Meta-RED experiment (Table 3) of the resolved config (``--config``; the quick one in
the example) with the workflow's own stage (:func:`metainv.stages.meta_train.meta_train`) for
each setting given, then scores it on the **tuning split** (``data.tuning``, measured with seed + 2000 like the parameter searches; the
validation split is never read) against

* its learned initial image φ_θ (the SIREN before any inner step),
* f(φ_θ): the same 3 RED updates from φ_θ with no inner step (m = 0),
* RED(3) and RED(12) from y, with the λ, σ_f tuned for RED(12) (``params.json``),

as per-image paired PSNR differences with 95 % bootstrap intervals, and the wall time per
outer step. Needs the quick workflow's DnCNN and RED(12) parameters::

    snakemake results/deblur/red_12/params.json --cores 2 --configfile config/quick.yaml
    python benchmarks/meta_red_budget.py --config config/config.yaml --config config/quick.yaml \\
        --steps 30 150 --lr 5e-4 --reduction sum mean --experiment meta_red_l2 --out meta_red_budget.csv

The search behind Meta-RED's own λ_f (``solver.params``; docs, decisions, "Meta-RED's own λ_f")::

    python benchmarks/meta_red_budget.py --config config/config.yaml --config config/quick.yaml \\
        --lam 300 1000 3000 --experiment meta_red_l2
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from _common import (REPO, add_config_argument, add_data_arguments, config_paths, data_overrides, face_splits,
                     resolved_config, store_dir, train_meta)

from metainv.data.store import to_tensor
from metainv.meta.maml import adapt
from metainv.metrics import psnr_torch
from metainv.recon import TUNING_SEED_OFFSET, measure
from metainv.solvers import build_solver
from metainv.metamodel import solver_parts
from metainv.classical import classical_solver_config, read_params
from metainv.stats import paired_bootstrap


def score(spec, state, siren, rates, denoiser_path, x, op, y, red_spec, red_params) -> dict[str, np.ndarray]:
    """Per-image PSNR of Meta-RED, φ_θ, f(φ_θ), RED(3) and RED(12) from y on (x, y)."""
    device = torch.device("cpu")
    denoiser, solver, eval_solver = solver_parts(spec, device, denoiser_path, state["solver_params"])
    h, w = x.shape[-2:]
    with torch.no_grad():
        init = siren.render(siren.batched(len(x)), h, w)
        red = {n: build_solver({**classical_solver_config(red_spec), "steps": n}, denoiser=denoiser,
                               params=red_params) for n in (3, 12)}
        out = {"init": init, "f(init)": eval_solver(init, y, op),
               "red3_y": red[3](None, y, op), "red12_y": red[12](None, y, op)}
    out["meta_red"] = adapt(siren, rates, y, op, solver, spec["inner"]["steps"], track_meta_gradient=False,
                            final_solver=eval_solver, reduction=spec["inner"]["loss_reduction"]).output.detach()
    return {k: psnr_torch(v.clamp(0, 1), x).numpy() for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(ap)
    add_data_arguments(ap)
    ap.add_argument("--experiment", default="meta_red_l2")
    ap.add_argument("--results", type=Path, default=REPO / "results",
                    help="the workflow's results/ (denoiser/dncnn/model.pt, deblur/<params_from>/params.json)")
    ap.add_argument("--steps", type=int, nargs="+", default=None, help="outer.steps (default: the config's)")
    ap.add_argument("--lr", type=float, nargs="+", default=None, help="outer.lr (default: the config's)")
    ap.add_argument("--reduction", nargs="+", default=None, choices=["sum", "mean"],
                    help="inner.loss_reduction (default: the config's)")
    ap.add_argument("--lam", type=float, nargs="+", default=None,
                    help="λ_f of f (solver.params.lam; default: the experiment's)")
    ap.add_argument("--sigma-f", type=float, nargs="+", default=None,
                    help="σ_f of f (solver.params.sigma_f; default: the experiment's)")
    ap.add_argument("--learn", nargs="*", default=None, choices=["lam", "sigma_f"],
                    help="solver.learn: f's parameters meta-learned from their start (default: the experiment's)")
    ap.add_argument("--images", type=int, default=16, help="tuning images scored")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    resolved = resolved_config(config_paths(a), data_overrides(a))
    base = resolved.all[a.experiment]
    res = base["task"]["resolution"]
    data = store_dir(resolved, res, a.data)
    red_id = base["solver"]["params_from"]
    denoiser = a.results / "denoiser" / "dncnn" / "model.pt"
    params_path = a.results / base["task"]["name"] / red_id / "params.json"
    red_params = read_params(params_path)
    x = to_tensor(face_splits(resolved, res, data)["tune"][: a.images])
    op, y = measure(base, x, torch.Generator().manual_seed(int(base["seed"]) + TUNING_SEED_OFFSET))
    rows = []
    given = base["solver"]["params"] or {}
    grid = itertools.product(a.steps or [base["outer"]["steps"]], a.lr or [base["outer"]["lr"]],
                             a.reduction or [base["inner"]["loss_reduction"]], a.lam or [given.get("lam")],
                             a.sigma_f or [given.get("sigma_f")])
    for steps, lr, reduction, lam, sigma_f in grid:
        spec = copy.deepcopy(base)
        spec["outer"].update(steps=steps, lr=lr, checkpoint_every=max(steps, 1), validate_every=0)
        spec["inner"]["loss_reduction"] = reduction
        chosen = {k: v for k, v in (("lam", lam), ("sigma_f", sigma_f)) if v is not None}
        spec["solver"]["params"] = {**given, **chosen} or None
        if a.learn is not None:
            spec["solver"]["learn"] = a.learn
        t0 = time.perf_counter()
        _, state, siren, rates = train_meta(spec, data, denoiser_path=denoiser, solver_params_path=params_path)
        seconds = time.perf_counter() - t0
        psnr = score(spec, state, siren, rates, denoiser, x, op, y, resolved.all[red_id], red_params)
        row = {"experiment": a.experiment, "steps": steps, "lr": lr, "reduction": reduction,
               **{f"f_{k}": v for k, v in state["solver_params"].items()},
               "s_per_step": seconds / max(steps, 1), "images": len(x)}
        row.update({f"psnr_{k}": float(v.mean()) for k, v in psnr.items()})
        for ref in ("init", "f(init)", "red3_y", "red12_y"):
            c = paired_bootstrap(psnr["meta_red"], psnr[ref])
            row.update({f"d_{ref}": c.mean_diff, f"d_{ref}_lo": c.ci_low, f"d_{ref}_hi": c.ci_high,
                        f"wins_{ref}": int(round(c.frac_a_wins * c.n))})
        rows.append(row)
        print(pd.DataFrame([row]).T.to_string(header=False), flush=True)
    frame = pd.DataFrame(rows)
    if a.out:
        frame.to_csv(a.out, index=False)
    print(frame[["steps", "lr", "reduction", "f_lam", "f_sigma_f", "s_per_step", "psnr_meta_red", "psnr_init",
                 "psnr_f(init)", "psnr_red12_y", "d_f(init)", "d_f(init)_lo", "d_f(init)_hi",
                 "d_red12_y", "d_red12_y_lo", "d_red12_y_hi"]].to_string())


if __name__ == "__main__":
    main()
