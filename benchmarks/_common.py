"""Shared set-up for the benchmark scripts: one meta-step problem of a given size."""

from __future__ import annotations

import resource
import time
from functools import partial
from typing import Callable

import torch

from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapt, outer_loss
from metainv.nets.siren import Siren
from metainv.physics import build_operator
from metainv.solvers.gd import gradient_descent


def time_and_peak(fn: Callable[[], None], device: torch.device, repeats: int) -> tuple[float, float]:
    """Seconds per call of ``fn`` (after one warm-up call) and peak memory in MiB
    (CUDA: max allocated during the timed calls; CPU: the process's max resident size)."""
    fn()  # warm-up (cuDNN autotuning, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (time.perf_counter() - t0) / repeats, peak


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


def meta_red_loss_fn(resolution, hidden, layers, depth, features, steps, red_steps, batch, dtype, device, seed=0):
    """Outer-loss closure of one Meta-RED meta-step (fine-tuned DnCNN: its weights included)."""
    from metainv.nets.dncnn import DnCNN
    from metainv.solvers import build_solver

    siren = Siren(hidden=hidden, layers=layers, generator=torch.Generator().manual_seed(seed)).to(device, dtype)
    rates = InnerLearningRates([p.shape for p in siren.params], steps, "meta_sgd", 0.01).to(device, dtype)
    torch.manual_seed(seed)
    den = DnCNN(depth=depth, features=features).to(device, dtype).eval()
    x = torch.rand(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed + 1))
    x = x.to(device, dtype)
    op = build_operator({"kind": "blur", "kernel_size": 11, "kernel_std": 1.5, "noise_std": 0.015},
                        batch, resolution, resolution, device=device)
    y = op.measure(x, torch.Generator().manual_seed(seed + 2))
    solver = build_solver({"kind": "red", "steps": red_steps}, denoiser=den, params={"lam": 200.0, "sigma_f": 0.05})

    def loss():
        return outer_loss(adapt(siren, rates, y, op, solver, steps, reduction="sum").output, x, "l2")

    return loss, list(siren.parameters()) + list(rates.parameters()) + list(den.parameters())
