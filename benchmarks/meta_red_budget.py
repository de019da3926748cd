"""How many outer steps (and which lr, inner-loss reduction) does quick Meta-RED need? (issue 10)

Trains the quick configuration's Meta-RED (Table 3) with the workflow's own stage
(:func:`metainv.stages.meta_train.meta_train`) for each setting given, then scores it on the
**tuning split** (``data.tuning``, measured with seed + 2000 like the parameter searches; the
validation split is never read) against

* its learned initial image φ_θ (the SIREN before any inner step),
* f(φ_θ): the same 3 RED updates from φ_θ with no inner step (m = 0),
* RED(3) and RED(12) from y, with the λ, σ_f tuned for RED(12) (``params.json``),

as per-image paired PSNR differences with 95 % bootstrap intervals, and the wall time per
outer step. Needs the quick workflow's DnCNN and RED(12) parameters::

    snakemake results/deblur/red_12/params.json --cores 2 --configfile config/quick.yaml
    python benchmarks/meta_red_budget.py --steps 30 150 --lr 5e-4 --reduction sum mean \\
        --experiment meta_red_l2 --out meta_red_budget.csv
"""

from __future__ import annotations

import argparse
import copy
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _faces import bootstrap_ci  # noqa: E402

from metainv.config import load_config, resolve  # noqa: E402
from metainv.data.store import load_split, split_tuning, to_tensor  # noqa: E402
from metainv.meta.maml import adapt  # noqa: E402
from metainv.metrics import psnr_torch  # noqa: E402
from metainv.recon import TUNING_SEED_OFFSET, measure  # noqa: E402
from metainv.solvers import build_solver  # noqa: E402
from metainv.classical import read_params  # noqa: E402
from metainv.metamodel import load_meta_model as load_model, solver_parts  # noqa: E402
from metainv.stages.meta_train import meta_train  # noqa: E402


def score(spec, model_path, denoiser_path, x, op, y, red_params) -> dict[str, np.ndarray]:
    """Per-image PSNR of Meta-RED, φ_θ, f(φ_θ), RED(3) and RED(12) from y on (x, y)."""
    device = torch.device("cpu")
    state, siren, rates = load_model(model_path, device)
    denoiser, solver, eval_solver = solver_parts(spec, device, denoiser_path, state["solver_params"])
    h, w = x.shape[-2:]
    with torch.no_grad():
        init = siren.render(siren.batched(len(x)), h, w)
        red = {n: build_solver({"kind": "red", "steps": n}, denoiser=denoiser, params=red_params)
               for n in (3, 12)}
        out = {"init": init, "f(init)": eval_solver(init, y, op),
               "red3_y": red[3](None, y, op), "red12_y": red[12](None, y, op)}
    out["meta_red"] = adapt(siren, rates, y, op, solver, spec["inner"]["steps"], track_meta_gradient=False,
                            final_solver=eval_solver, reduction=spec["inner"]["loss_reduction"]).output.detach()
    return {k: psnr_torch(v.clamp(0, 1), x).numpy() for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", default="meta_red_l2")
    ap.add_argument("--steps", type=int, nargs="+", default=[30])
    ap.add_argument("--lr", type=float, nargs="+", default=[5e-4])
    ap.add_argument("--reduction", nargs="+", default=["sum"])
    ap.add_argument("--images", type=int, default=16, help="tuning images scored")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    config = load_config(ROOT / "config/config.yaml", ROOT / "config/quick.yaml")
    base = resolve(config).all[a.experiment]
    res = base["task"]["resolution"]
    data = ROOT / f"data/processed/{config['data']['source']}/{res}"
    denoiser = ROOT / "results/denoiser/dncnn/model.pt"
    params_path = ROOT / "results/deblur/red_12/params.json"
    red_params = read_params(params_path)
    train = load_split(data, "train")
    _, tuning = split_tuning(len(train), int(base["tuning"]))
    x = to_tensor(train[tuning][: a.images])
    op, y = measure(base, x, torch.Generator().manual_seed(int(base["seed"]) + TUNING_SEED_OFFSET))
    rows = []
    for steps, lr, reduction in itertools.product(a.steps, a.lr, a.reduction):
        spec = copy.deepcopy(base)
        spec["outer"].update(steps=steps, lr=lr, checkpoint_every=max(steps, 1), validate_every=0)
        spec["inner"]["loss_reduction"] = reduction
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            meta_train(spec, data, Path(tmp) / "model.pt", Path(tmp) / "log.csv", torch.device("cpu"),
                       progress=False, denoiser_path=denoiser, solver_params_path=params_path)
            seconds = time.perf_counter() - t0
            psnr = score(spec, Path(tmp) / "model.pt", denoiser, x, op, y, red_params)
        row = {"experiment": a.experiment, "steps": steps, "lr": lr, "reduction": reduction,
               "s_per_step": seconds / max(steps, 1), "images": len(x)}
        row.update({f"psnr_{k}": float(v.mean()) for k, v in psnr.items()})
        for ref in ("init", "f(init)", "red3_y", "red12_y"):
            d = psnr["meta_red"] - psnr[ref]
            lo, hi = bootstrap_ci(d)
            row.update({f"d_{ref}": float(d.mean()), f"d_{ref}_lo": lo, f"d_{ref}_hi": hi,
                        f"wins_{ref}": int((d > 0).sum())})
        rows.append(row)
        print(pd.DataFrame([row]).T.to_string(header=False), flush=True)
    frame = pd.DataFrame(rows)
    if a.out:
        frame.to_csv(a.out, index=False)
    print(frame[["steps", "lr", "reduction", "s_per_step", "psnr_meta_red", "psnr_init", "psnr_f(init)",
                 "psnr_red3_y", "psnr_red12_y", "d_red3_y", "d_red3_y_lo", "d_red3_y_hi"]].to_string())


if __name__ == "__main__":
    main()
