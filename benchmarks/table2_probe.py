"""Table 2 probe (random missing pixels, no solver, Meta-SGD), issue 10 item 2.

Meta-trains the Table 2 experiment (default ``meta_random``) with the workflow's own stage
(``meta_train``, the resolved config's sizes, rates, K distribution and learning rates; flags
override single keys) and scores, per image and per number of observed pixels
K ∈ {10, 500, 1000, half}:

* ``meta``    — the adapted SIREN's image (the Table 2 solution);
* ``meta+dc`` — the same with the observed pixels kept (``eval.data_consistency``, the
  workflow's "Meta + DC" rows);
* ``input``   — the zero-filled measurement Aᵀy;
* ``interp``  — linear interpolation of the observed pixels
  (:func:`metainv.solvers.interpolate.interpolate_batch`, the workflow's Table 2 "Interp."
  rows; nearest neighbour outside their convex hull), the classical reference Meta must beat;
* ``fit``     — PSNR of the Meta image on the *observed* pixels only (does it fit what it sees?).

Choices are scored on ``--split tune`` (the tuning split, measured with seed + 2000 as the
parameter searches are); ``--split val`` (the evaluation measurements, seed + 1000) only for
the final numbers. Example::

    python benchmarks/table2_probe.py --config config/config.yaml --config config/quick.yaml \\
        --outer-steps 300 --param log --rate-lr 0.02 --split tune
"""

from __future__ import annotations

import os

# one OpenMP thread for torch on a shared 2-core machine (the interpolation limits its own BLAS
# threads: metainv.solvers.interpolate)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import copy
import hashlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _common import (add_config_argument, add_data_arguments, config_paths, data_overrides, describe,
                     face_splits, psnr_observed, resolved_config, store_dir, train_meta)
from metainv.config import deep_merge
from metainv.data.store import to_tensor
from metainv.meta.maml import adapt
from metainv.metrics import psnr_torch
from metainv.recon import TUNING_SEED_OFFSET, evaluation_seed, measure
from metainv.solvers.interpolate import interpolate_batch
from metainv.metamodel import solver_parts
from metainv.stats import paired_bootstrap

KS = ("10", "500", "1000", "half")


def _interpolated(key: str, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """interpolate_batch, cached on disk: the same images and seeded masks every run."""
    cache = Path(tempfile.gettempdir()) / f"metainv_t2_interp_{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    if cache.exists():
        return np.load(cache)
    out = interpolate_batch(y, mask)
    np.save(cache, out)
    return out


def evaluate(spec, siren, rates, images: np.ndarray, split: str, store: Path) -> dict[str, dict[str, np.ndarray]]:
    x = to_tensor(images)
    seed = int(spec["seed"]) + TUNING_SEED_OFFSET if split == "tune" else evaluation_seed(spec)
    _, solver, eval_solver = solver_parts(spec, torch.device("cpu"))
    dc_spec = copy.deepcopy(spec)
    dc_spec["eval"]["data_consistency"] = True
    _, _, dc_solver = solver_parts(dc_spec, torch.device("cpu"))
    steps, reduction = spec["inner"]["steps"], spec["inner"]["loss_reduction"]
    out = {}
    for k in KS:
        observed = k if k == "half" else int(k)
        op, y = measure(spec, x, torch.Generator().manual_seed(seed), observed)
        meta, dc = (adapt(siren, rates, y, op, solver, steps, track_meta_gradient=False, final_solver=last,
                          reduction=reduction).output.detach() for last in (eval_solver, dc_solver))
        interp = torch.from_numpy(_interpolated(f"{store}|{split}|{seed}|{k}", y.numpy(), op.mask.numpy()))
        out[k] = {"meta": psnr_torch(meta, x), "meta+dc": psnr_torch(dc, x), "input": psnr_torch(y, x),
                  "interp": psnr_torch(interp, x), "fit": psnr_observed(meta, x, op.mask)}
        out[k] = {m: v.numpy() for m, v in out[k].items()}
    return out


def report(scores) -> dict:
    summary = {}
    for k, s in scores.items():
        line = {m: (float(v.mean()), float(v.std())) for m, v in s.items()}
        for ref in ("input", "interp"):
            c = paired_bootstrap(s["meta"], s[ref])
            line[f"meta-{ref}"] = (c.mean_diff, c.ci_low, c.ci_high)
        summary[k] = line
        print(f"K={k:>5}: " + "  ".join(
            f"{m} {v[0]:.2f}±{v[1]:.2f}" if len(v) == 2 else f"{m} {v[0]:+.2f} [{v[1]:+.2f}, {v[2]:+.2f}]"
            for m, v in line.items()), flush=True)
    c = paired_bootstrap(scores["1000"]["meta"], scores["500"]["meta"])
    summary["gain_500_1000"] = (c.mean_diff, c.ci_low, c.ci_high)
    print(f"Meta K=1000 − K=500: {c.mean_diff:+.2f} dB [{c.ci_low:+.2f}, {c.ci_high:+.2f}]")
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(p)
    add_data_arguments(p)
    p.add_argument("--experiment", default="meta_random")
    p.add_argument("--split", default=["tune"], nargs="+", choices=["tune", "val"],
                   help="splits to score (choices are made on tune only)")
    p.add_argument("--hidden", type=int, default=None, help="siren.hidden")
    p.add_argument("--layers", type=int, default=None, help="siren.layers")
    p.add_argument("--omega0", type=float, default=None, help="siren.omega0")
    p.add_argument("--inner-steps", type=int, default=None, help="inner.steps")
    p.add_argument("--scheme", default=None, choices=["per_step", "meta_sgd"], help="inner.lr_scheme")
    p.add_argument("--param", default=None, choices=["linear", "log"], help="inner.lr_param")
    p.add_argument("--init", type=float, default=None, help="inner.lr_init")
    p.add_argument("--order", default=None, choices=["first", "second"], help="inner.order")
    p.add_argument("--reduction", default=None, choices=["mean", "sum"], help="inner.loss_reduction")
    p.add_argument("--rate-lr", type=float, default=None, help="outer.inner_lr_lr")
    p.add_argument("--lr", type=float, default=None, help="outer.lr")
    p.add_argument("--batch", type=int, default=None, help="outer.batch_size")
    p.add_argument("--outer-steps", type=int, default=None, help="outer.steps")
    p.add_argument("--outer-loss", default=None, choices=["l1", "l2"], help="outer.loss")
    p.add_argument("--k-range", type=int, nargs=2, default=None, help="task operator observed_range")
    p.add_argument("--k-sampling", default=None, choices=["log_uniform", "uniform"],
                   help="task operator observed_sampling")
    p.add_argument("--half-prob", type=float, default=None, help="task operator half_probability")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--print-every", type=int, default=50)
    p.add_argument("--json", default=None, help="write the summary here")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    def given(**kw):
        return {k: v for k, v in kw.items() if v is not None}

    task = resolved_config(config_paths(a), data_overrides(a)).all[a.experiment]["task"]["name"]
    overrides = deep_merge(data_overrides(a), {
        "tasks": {task: {"operator": given(observed_range=a.k_range, observed_sampling=a.k_sampling,
                                           half_probability=a.half_prob)}},
        "experiments": {a.experiment: {
            "siren": given(hidden=a.hidden, layers=a.layers, omega0=a.omega0),
            "inner": given(steps=a.inner_steps, lr_scheme=a.scheme, lr_param=a.param, lr_init=a.init,
                           order=a.order, loss_reduction=a.reduction),
            "outer": given(inner_lr_lr=a.rate_lr, lr=a.lr, batch_size=a.batch, steps=a.outer_steps,
                           loss=a.outer_loss)}}})
    resolved = resolved_config(config_paths(a), overrides)
    spec = resolved.all[a.experiment]
    t0 = time.perf_counter()
    store = store_dir(resolved, spec["task"]["resolution"], a.data)
    data = face_splits(resolved, spec["task"]["resolution"], store)
    print(f"{a.experiment} ({describe(spec)}), {spec['outer']['steps']} outer steps; {store}: train "
          f"{len(data['train'])}, " + ", ".join(f"{s} {len(data[s])}" for s in a.split), flush=True)
    log, _, siren, rates = train_meta(spec, store)
    for row in log:
        if row["step"] % a.print_every == 0 or row["step"] == len(log):
            print(" ".join(f"{k}={v:.4g}" for k, v in row.items() if not k.startswith("rate_")
                           or k.endswith("mean")), flush=True)
    t1 = time.perf_counter()
    summary = {}
    for split in a.split:
        print(f"-- scored on {split} ({len(data[split])} images)")
        summary[split] = report(evaluate(spec, siren, rates, data[split], split, store))
    print(f"train {t1 - t0:.0f} s, evaluate {time.perf_counter() - t1:.0f} s; rates {rates.summary()}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": {k: v for k, v in vars(a).items() if k != "_config_default"}, "spec": spec,
                       "summary": summary, "log": log, "rates": rates.summary(),
                       "train_seconds": t1 - t0}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
