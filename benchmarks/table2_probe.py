"""Table 2 probe (random missing pixels, 32², no solver, Meta-SGD m = 5), issue 10 item 2.

Meta-trains a SIREN initialisation and its inner rates with the package's algorithm
functions (``adapt``, ``outer_loss``, ``InnerLearningRates``, ``build_operator``) — not the
workflow — and scores, per image and per number of observed pixels K ∈ {10, 500, 1000, half}:

* ``meta``   — the adapted SIREN's image (the Table 2 solution);
* ``input``  — the zero-filled measurement Aᵀy;
* ``interp`` — linear interpolation of the observed pixels
  (:func:`metainv.solvers.interpolate.interpolate_batch`, the workflow's Table 2 "Interp."
  rows; nearest neighbour outside their convex hull), the classical reference Meta must beat;
* ``fit``    — PSNR of the Meta image on the *observed* pixels only (does it fit what it sees?).

Choices are scored on ``--split tune`` (held-out training images); ``--split val`` only for the
final numbers. Evaluation masks come from a fixed seed, one per image and K. Example::

    python benchmarks/table2_probe.py --source sample --outer-steps 300 --param log \\
        --rate-lr 0.02 --split tune
"""

from __future__ import annotations

import os

# one OpenMP thread for torch on a shared 2-core machine (the interpolation limits its own BLAS
# threads: metainv.solvers.interpolate)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _faces import bootstrap_ci, load_faces, psnr
from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapt, outer_loss
from metainv.nets.siren import Siren
from metainv.physics import build_operator
from metainv.solvers import build_solver
from metainv.solvers.interpolate import interpolate_batch

KS = ("10", "500", "1000", "half")


def train(a, data: np.ndarray):
    torch.manual_seed(a.seed)
    siren = Siren(hidden=a.hidden, layers=a.layers, omega0=a.omega0,
                  generator=torch.Generator().manual_seed(a.seed))
    rates = InnerLearningRates([q.shape for q in siren.params], a.inner_steps, a.scheme, a.init, a.param)
    opt = torch.optim.Adam([{"params": list(siren.parameters()), "lr": a.lr},
                            {"params": list(rates.parameters()), "lr": a.rate_lr}])
    spec = {"kind": "inpaint_random", "observed_range": [a.k_lo, a.k_hi],
            "observed_sampling": a.k_sampling, "half_probability": a.half_prob, "noise_std": 0.0}
    g = torch.Generator().manual_seed(a.seed)
    r = data.shape[-1]
    log = []
    for step in range(1, a.outer_steps + 1):
        idx = torch.randint(len(data), (a.batch,), generator=g).numpy()
        x = torch.from_numpy(data[idx])
        op = build_operator(spec, a.batch, r, r, g)
        y = op.measure(x, g)
        res = adapt(siren, rates, y, op, build_solver({"kind": "none"}), a.inner_steps,
                    second_order=a.order == "second", reduction=a.reduction)
        loss = outer_loss(res.output, x, a.outer_loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % a.print_every == 0 or step == a.outer_steps:
            row = {"step": step, "loss": loss.item(),
                   **{f"inner_loss_{k}": v.item() for k, v in enumerate(res.inner_losses)},
                   **{k: v for k, v in rates.summary().items() if k.endswith("mean")}}
            log.append(row)
            print(" ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
    return siren, rates, log


_INTERP_CACHE: dict = {}


def evaluate(a, siren, rates, images: np.ndarray, split: str) -> dict[str, dict[str, np.ndarray]]:
    n, _, r, _ = images.shape
    x = torch.from_numpy(images)
    out = {}
    cache = Path(tempfile.gettempdir()) / f"metainv_t2_interp_{a.source}_{split}_{r}.npz"
    interps = _INTERP_CACHE.setdefault(split, {})
    if cache.exists() and not interps:
        interps.update(np.load(cache))
    for i, k in enumerate(KS):
        g = torch.Generator().manual_seed(1000 + i)
        op = build_operator({"kind": "inpaint_random"}, n, r, r, g, observed=k if k == "half" else int(k))
        y = op.measure(x, g)
        meta = adapt(siren, rates, y, op, build_solver({"kind": "none"}), a.inner_steps, track_meta_gradient=False,
                     reduction=a.reduction).output.detach().numpy()
        mask = op.mask.numpy()
        yn = y.numpy()
        if k not in interps:  # same images and seeded masks every run: computed once
            interps[k] = interpolate_batch(yn, mask)
            np.savez(cache, **interps)
        interp = interps[k]
        # meta+dc: the observed pixels pasted back (a final data-consistency step; not Table 2's
        # "no solver" output, shown to separate fitting from filling)
        out[k] = {"meta": psnr(meta, images), "input": psnr(yn, images), "interp": psnr(interp, images),
                  "fit": psnr(meta, images, mask), "meta+dc": psnr(meta * (1 - mask) + yn, images)}
    return out


def report(scores) -> dict:
    summary = {}
    for k, s in scores.items():
        line = {m: (float(v.mean()), float(v.std())) for m, v in s.items()}
        for ref in ("input", "interp"):
            d = s["meta"] - s[ref]
            line[f"meta-{ref}"] = (float(d.mean()), *bootstrap_ci(d))
        summary[k] = line
        print(f"K={k:>5}: " + "  ".join(
            f"{m} {v[0]:.2f}±{v[1]:.2f}" if len(v) == 2 else f"{m} {v[0]:+.2f} [{v[1]:+.2f}, {v[2]:+.2f}]"
            for m, v in line.items()), flush=True)
    d = scores["1000"]["meta"] - scores["500"]["meta"]
    summary["gain_500_1000"] = (float(d.mean()), *bootstrap_ci(d))
    print(f"Meta K=1000 − K=500: {d.mean():+.2f} dB [{summary['gain_500_1000'][1]:+.2f}, "
          f"{summary['gain_500_1000'][2]:+.2f}]")
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default="sample", choices=["sample", "celeba"])
    p.add_argument("--celeba", default="/work/shared/data/celeba-dev/img_align_celeba")
    p.add_argument("--split", default=["tune"], nargs="+", choices=["tune", "val"],
                   help="splits to score (choices are made on tune only)")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--omega0", type=float, default=30.0)
    p.add_argument("--inner-steps", type=int, default=5)
    p.add_argument("--scheme", default="meta_sgd", choices=["per_step", "meta_sgd"])
    p.add_argument("--param", default="log", choices=["linear", "log"])
    p.add_argument("--init", type=float, default=0.01)
    p.add_argument("--rate-lr", type=float, default=0.02)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch", type=int, default=5)
    p.add_argument("--outer-steps", type=int, default=300)
    p.add_argument("--order", default="second", choices=["first", "second"])
    p.add_argument("--reduction", default="mean", choices=["mean", "sum"])
    p.add_argument("--outer-loss", default="l2", choices=["l1", "l2"])
    p.add_argument("--k-lo", type=int, default=10)
    p.add_argument("--k-hi", type=int, default=1000)
    p.add_argument("--k-sampling", default="log_uniform", choices=["log_uniform", "uniform"])
    p.add_argument("--half-prob", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--print-every", type=int, default=50)
    p.add_argument("--json", default=None, help="write the summary here")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    data = load_faces(a.source, a.resolution, a.celeba)
    print(f"{a.source}: train {len(data['train'])}, " + ", ".join(
        f"{s} {len(data[s])}" for s in a.split), flush=True)
    siren, rates, log = train(a, data["train"])
    t1 = time.perf_counter()
    summary = {}
    for split in a.split:
        print(f"-- scored on {split} ({len(data[split])} images)")
        summary[split] = report(evaluate(a, siren, rates, data[split], split))
    print(f"train {t1 - t0:.0f} s, evaluate {time.perf_counter() - t1:.0f} s; rates {rates.summary()}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "summary": summary, "log": log, "rates": rates.summary(),
                       "train_seconds": t1 - t0}, f, indent=1)


if __name__ == "__main__":
    main()
