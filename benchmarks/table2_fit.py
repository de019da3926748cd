"""Why does the Table 2 SIREN not fit its observed pixels? (issue 10 item 2)

Takes a trained Table 2 model (``model.pt`` of ``meta_random``) and its data store, and on the
*tuning* split (the tail of the training split, ``data.tuning``; never the scored images) runs
Algorithm 1 at K observed pixels with

* the learned rates scaled by a factor c (c = 1 is the trained model), and
* more inner steps than trained (the learned step-m rates repeated),

printing PSNR on the observed pixels (``fit``), on all pixels (``meta``) and with the observed
pixels pasted back (``meta+dc``: one gradient step of size 1 on ‖M⊙x − y‖², the data-consistency
step). If ``fit`` rises with c or with steps, the shortfall is the inner optimisation (rates,
steps), not the SIREN's capacity. Example::

    python benchmarks/table2_fit.py results/inpaint_random/meta_random/model.pt \\
        results/data/inpaint_random --tuning 20 --k 1000 500
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse

import torch

from _faces import psnr
from metainv.data.store import load_split, split_tuning, to_tensor
from metainv.meta.maml import adapt
from metainv.physics import build_operator
from metainv.solvers import build_solver
from metainv.metamodel import load_meta_model as load_model


class ScaledRates(torch.nn.Module):
    """The trained rates × ``scale``; steps past the trained m reuse the last step's rates."""

    def __init__(self, rates, scale: float):
        super().__init__()
        self.inner, self.scale = rates, scale

    def rate(self, step: int, index: int) -> torch.Tensor:
        return self.scale * self.inner.rate(min(step, self.inner.steps - 1), index)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("data_dir")
    p.add_argument("--tuning", type=int, required=True, help="config.data.tuning of the run")
    p.add_argument("--k", nargs="+", default=["1000", "500"])
    p.add_argument("--scales", type=float, nargs="+", default=[0.5, 1, 2, 4, 8, 16])
    p.add_argument("--steps", type=int, nargs="+", default=[5, 20, 100])
    p.add_argument("--images", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(1)
    state, siren, rates = load_model(a.model, torch.device("cpu"))
    spec = state["spec"]
    train = load_split(a.data_dir, "train")
    _, tune = split_tuning(len(train), a.tuning)
    x = to_tensor(train[tune][: a.images])
    n, _, h, w = x.shape
    reduction = spec["inner"]["loss_reduction"]
    print(f"{n} tuning images {h}×{w}; trained m = {rates.steps}, reduction {reduction}; rates {rates.summary()}")
    for k in a.k:
        g = torch.Generator().manual_seed(7)
        op = build_operator({"kind": "inpaint_random"}, n, h, w, g, observed=k if k == "half" else int(k))
        y = op.measure(x, g)
        mask = op.mask
        truth, observed = x.numpy(), mask.numpy()
        print(f"K={k}: input {psnr(y.numpy(), truth).mean():.2f} dB")
        for steps in a.steps:
            for c in a.scales:
                out = adapt(siren, ScaledRates(rates, c), y, op, build_solver({"kind": "none"}), steps,
                            track_meta_gradient=False, reduction=reduction).output.detach()
                dc = (out * (1 - mask) + y).numpy()
                ok = torch.isfinite(out).all().item()
                out = out.numpy()
                print(f"  steps {steps:3d} scale {c:5.1f}: fit {psnr(out, truth, observed).mean():6.2f}  "
                      f"meta {psnr(out, truth).mean():6.2f}  meta+dc {psnr(dc, truth).mean():6.2f}"
                      + ("" if ok else "  (non-finite)"), flush=True)


if __name__ == "__main__":
    main()
