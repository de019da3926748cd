"""Shared set-up for the benchmark scripts: one meta-step problem of a given size."""

from __future__ import annotations

from functools import partial

import torch

from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapt, outer_loss
from metainv.nets.siren import Siren
from metainv.physics import build_operator
from metainv.solvers.gd import gradient_descent


def meta_loss_fn(resolution, hidden, layers, steps, batch, dtype, device, order="second", seed=0):
    """A closure computing the outer loss of one meta-step, and the meta-parameters."""
    siren = Siren(hidden=hidden, layers=layers, generator=torch.Generator().manual_seed(seed)).to(device, dtype)
    rates = InnerLearningRates([p.shape for p in siren.params], steps, "per_step", 0.01).to(device, dtype)
    x = torch.rand(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed + 1))
    x = x.to(device, dtype)
    op = build_operator({"kind": "inpaint_center"}, batch, resolution, resolution, device=device)
    y = op.measure(x)
    solver = partial(gradient_descent, step_size=0.9, steps=1)

    def loss():
        out = adapt(siren, rates, y, op, solver, steps, second_order=(order == "second")).output
        return outer_loss(out, x, "l2")

    return loss, list(siren.parameters()) + list(rates.parameters())
