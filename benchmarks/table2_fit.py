"""Why does the Table 2 SIREN not fit its observed pixels? (issue 10 item 2)

Takes a trained Table 2 model (``model.pt`` of ``meta_random``) and its data store, and on the
*tuning* split (the tail of the training split, ``data.tuning``; never the scored images) runs
Algorithm 1 at K observed pixels with

* the learned rates scaled by a factor c (c = 1 is the trained model), and
* more inner steps than trained (the learned step-m rates repeated),

printing PSNR on the observed pixels (``fit``), on all pixels (``meta``) and with the observed
pixels pasted back (``meta+dc``: ``eval.data_consistency``, one gradient step of size 1 on
‖M⊙x − y‖², the workflow's "Meta + DC"). If ``fit`` rises with c or with steps, the shortfall
is the inner optimisation (rates, steps), not the SIREN's capacity. The tuning split is the
one the model was trained without (``tuning`` of the spec saved in ``model.pt``), measured
with seed + 2000 as the parameter searches are. Example::

    python benchmarks/table2_fit.py results/inpaint_random/meta_random/model.pt \\
        data/processed/sample/32 --k 1000 500
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import copy

import torch

from _common import psnr_observed
from metainv.data.store import load_split, split_tuning, to_tensor
from metainv.meta.maml import adapt
from metainv.metrics import psnr_torch
from metainv.recon import TUNING_SEED_OFFSET, measure
from metainv.metamodel import load_meta_model as load_model, solver_parts


class ScaledRates(torch.nn.Module):
    """The trained rates × ``scale``; steps past the trained m reuse the last step's rates."""

    def __init__(self, rates, scale: float):
        super().__init__()
        self.inner, self.scale = rates, scale

    def rate(self, step: int, index: int) -> torch.Tensor:
        return self.scale * self.inner.rate(min(step, self.inner.steps - 1), index)

    def __getattr__(self, name: str):
        """Everything else (which tensors adapt, the schedule) is the trained rates'."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("data_dir")
    p.add_argument("--tuning", type=int, default=None,
                   help="size of the tuning split (default: the one the model was trained with)")
    p.add_argument("--k", nargs="+", default=["1000", "500"])
    p.add_argument("--scales", type=float, nargs="+", default=[0.5, 1, 2, 4, 8, 16])
    p.add_argument("--steps", type=int, nargs="+", default=[5, 20, 100])
    p.add_argument("--images", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(1)
    state, siren, rates = load_model(a.model, torch.device("cpu"))
    spec = state["spec"]
    train = load_split(a.data_dir, "train")
    _, tune = split_tuning(len(train), a.tuning or int(spec["tuning"]))
    x = to_tensor(train[tune][: a.images])
    n, _, h, w = x.shape
    reduction = spec["inner"]["loss_reduction"]
    _, solver, eval_solver = solver_parts(spec, torch.device("cpu"))
    dc_spec = copy.deepcopy(spec)
    dc_spec["eval"]["data_consistency"] = True
    _, _, dc_solver = solver_parts(dc_spec, torch.device("cpu"))
    print(f"{n} tuning images {h}×{w}; trained m = {rates.steps}, reduction {reduction}; rates {rates.summary()}")
    for k in a.k:
        op, y = measure(spec, x, torch.Generator().manual_seed(int(spec["seed"]) + TUNING_SEED_OFFSET),
                        k if k == "half" else int(k))
        print(f"K={k}: input {psnr_torch(y, x).mean():.2f} dB")
        for steps in a.steps:
            for c in a.scales:
                out, dc = (adapt(siren, ScaledRates(rates, c), y, op, solver, steps, track_meta_gradient=False,
                                 final_solver=last, reduction=reduction).output.detach()
                           for last in (eval_solver, dc_solver))
                ok = torch.isfinite(out).all().item()
                print(f"  steps {steps:3d} scale {c:5.1f}: fit {psnr_observed(out, x, op.mask).mean():6.2f}  "
                      f"meta {psnr_torch(out, x).mean():6.2f}  meta+dc {psnr_torch(dc, x).mean():6.2f}"
                      + ("" if ok else "  (non-finite)"), flush=True)


if __name__ == "__main__":
    main()
