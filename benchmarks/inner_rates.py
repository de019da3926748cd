"""Do the learned inner rates move at the paper's settings? (issue 10, item 1)

Meta-trains centre inpainting (Table 1: GD solver, step 0.9, per-step rates α_k, mean inner
loss) with the paper's SIREN 5 × 256, batch 5, Adam 1e-5 on θ, for a few hundred outer steps,
and prints the per-step rates and per-step inner losses as they move. Compare the rates'
parametrisation (``--param linear|log``) and their Adam learning rate (``--rate-lr``)::

    python benchmarks/inner_rates.py --celeba ../shared/data/celeba-dev/img_align_celeba \\
        --resolution 64 --inner-steps 2 --outer-steps 200 --param log --rate-lr 0.02

Writes a CSV (one row per outer step) with ``--out``.
"""

from __future__ import annotations

import os

# one BLAS thread: with torch loaded, OpenBLAS's thread pool made each scipy interpolation
# take seconds instead of milliseconds on a shared 2-core machine
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import csv
import time

import numpy as np
import torch

from _faces import load_faces
from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapt, outer_loss
from metainv.nets.siren import Siren
from metainv.physics import build_operator
from metainv.solvers import build_solver


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default="celeba", choices=["sample", "celeba"])
    p.add_argument("--celeba", default="/work/shared/data/celeba-dev/img_align_celeba")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--inner-steps", type=int, default=2)
    p.add_argument("--outer-steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--param", default="log", choices=["linear", "log"])
    p.add_argument("--rate-lr", type=float, default=0.02)
    p.add_argument("--init", type=float, default=0.01)
    p.add_argument("--order", default="second", choices=["first", "second"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--print-every", type=int, default=20)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    data = load_faces(a.source, a.resolution, a.celeba)["train"]
    siren = Siren(hidden=a.hidden, layers=a.layers, generator=torch.Generator().manual_seed(0))
    rates = InnerLearningRates([q.shape for q in siren.params], a.inner_steps, "per_step", a.init, a.param)
    opt = torch.optim.Adam([{"params": list(siren.parameters()), "lr": a.lr},
                            {"params": list(rates.parameters()), "lr": a.rate_lr}])
    solver = build_solver({"kind": "gd", "steps": 1, "step_size": 0.9})
    g = torch.Generator().manual_seed(0)
    rows, t0 = [], time.perf_counter()
    for step in range(1, a.outer_steps + 1):
        idx = torch.randint(len(data), (a.batch,), generator=g).numpy()
        x = torch.from_numpy(data[idx])
        op = build_operator({"kind": "inpaint_center"}, a.batch, a.resolution, a.resolution)
        y = op.measure(x)
        res = adapt(siren, rates, y, op, solver, a.inner_steps, second_order=a.order == "second")
        loss = outer_loss(res.output, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        row = {"step": step, "loss": loss.item(),
               **{f"inner_loss_{k}": v.item() for k, v in enumerate(res.inner_losses)},
               **rates.summary(), "seconds": time.perf_counter() - t0}
        rows.append(row)
        if step % a.print_every == 0 or step == 1:
            print(" ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
    if a.out:
        with open(a.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
