"""Shared set-up for the benchmark scripts: one meta-step problem of a given size, timing and
peak memory, and an audit of host↔device transfers."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapt, outer_loss
from metainv.nets.siren import Siren
from metainv.physics import build_operator
from metainv.solvers import build_solver


def _status_kib(field: str) -> float | None:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status in KiB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> float | None:
    """Reset the process's resident-set high-water mark (Linux: ``echo 5 > clear_refs``) and
    return the current RSS in MiB; None where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    rss = _status_kib("VmRSS")
    return None if rss is None else rss / 1024


def peak_rss_mib() -> float:
    """The process's resident-set high-water mark in MiB (VmHWM, else ru_maxrss)."""
    hwm = _status_kib("VmHWM")
    return hwm / 1024 if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_and_peak(fn: Callable[[], None], device: torch.device, repeats: int,
                  cpu_delta: bool = False) -> tuple[float, float]:
    """Seconds per call of ``fn`` (after one warm-up call) and peak memory in MiB
    (CUDA: max allocated during the timed calls; CPU: the process's max resident size, or with
    ``cpu_delta`` its growth over the resident size before the warm-up, where Linux lets the
    high-water mark be reset)."""
    base = reset_peak_rss() if (cpu_delta and device.type == "cpu") else None
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
        peak = peak_rss_mib() - (base or 0.0)
    return (time.perf_counter() - t0) / repeats, peak


def meta_loss_fn(resolution, hidden, layers, steps, batch, dtype, device, order="second", seed=0,
                 task="inpaint_center", lr_scheme="per_step", observed=500):
    """A closure computing the outer loss of one meta-step, and the meta-parameters.

    ``task``: ``inpaint_center`` (Table 1: one gradient-descent step of Eq. 6, α = 0.9, as f)
    or ``inpaint_random`` (Table 2: no solver, ``observed`` random pixels per image); the
    inner loss is the mean over measured values, as configured for both.
    """
    siren = Siren(hidden=hidden, layers=layers, generator=torch.Generator().manual_seed(seed)).to(device, dtype)
    rates = InnerLearningRates([p.shape for p in siren.params], steps, lr_scheme, 0.01).to(device, dtype)
    x = torch.rand(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed + 1))
    x = x.to(device, dtype)
    gen = torch.Generator().manual_seed(seed + 2)
    if task == "inpaint_center":
        op = build_operator({"kind": "inpaint_center"}, batch, resolution, resolution, device=device)
        solver = build_solver({"kind": "gd", "steps": 1, "step_size": 0.9})
    elif task == "inpaint_random":
        op = build_operator({"kind": "inpaint_random"}, batch, resolution, resolution, gen, device,
                            observed=observed)
        solver = build_solver({"kind": "none"})
    else:
        raise ValueError(f"unknown benchmark task {task!r}")
    y = op.measure(x)

    def loss():
        out = adapt(siren, rates, y, op, solver, steps, second_order=(order == "second")).output
        return outer_loss(out, x, "l2")

    # Algorithm 1's inference path on the same batch (evaluation and validation use it)
    loss.infer = lambda: adapt(siren, rates, y, op, solver, steps, track_meta_gradient=False).output
    return loss, list(siren.parameters()) + list(rates.parameters())


def meta_red_loss_fn(resolution, hidden, layers, depth, features, steps, red_steps, batch, dtype, device, seed=0,
                     finetune=True, checkpoint=False):
    """Outer-loss closure of one Meta-RED meta-step and its meta-parameters (θ, the Meta-SGD
    rates and, ``finetune``, the DnCNN's weights; frozen, gradients still flow through it).
    ``checkpoint`` recomputes the DnCNN's activations in the backward pass."""
    from metainv.nets.dncnn import DnCNN
    from metainv.solvers import build_solver

    siren = Siren(hidden=hidden, layers=layers, generator=torch.Generator().manual_seed(seed)).to(device, dtype)
    rates = InnerLearningRates([p.shape for p in siren.params], steps, "meta_sgd", 0.01).to(device, dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        den = DnCNN(depth=depth, features=features).to(device, dtype).eval()
    den.requires_grad_(finetune)
    x = torch.rand(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed + 1))
    x = x.to(device, dtype)
    op = build_operator({"kind": "blur", "kernel_size": 11, "kernel_std": 1.5, "noise_std": 0.015},
                        batch, resolution, resolution, device=device)
    y = op.measure(x, torch.Generator().manual_seed(seed + 2))
    solver = build_solver({"kind": "red", "steps": red_steps, "checkpoint_denoiser": checkpoint},
                          denoiser=den, params={"lam": 200.0, "sigma_f": 0.05})

    def loss():
        return outer_loss(adapt(siren, rates, y, op, solver, steps, reduction="sum").output, x, "l2")

    loss.infer = lambda: adapt(siren, rates, y, op, solver, steps, track_meta_gradient=False,
                               reduction="sum").output

    return loss, list(siren.parameters()) + list(rates.parameters()) + (list(den.parameters()) if finetune else [])


class HostSyncAudit(TorchDispatchMode):
    """Records the calls that make the host wait for the device inside a region of code.

    ``.item()`` / ``float()`` / ``bool()`` of a tensor (``aten._local_scalar_dense``: a
    device→host copy the host must wait for) and explicit copies between the CPU and another
    device (``.to(device)``, ``.cpu()``: a pageable host→device copy also waits for the work
    queued before it). Each is attributed to the innermost ``src/metainv`` (else non-torch)
    source line. Run the region with tensors on the ``meta`` device to see every such call at
    no cost: there a scalar read returns ``1`` (``fake_scalar``) so the region runs to the end.
    Scalar tensors built from Python numbers on the device (``torch.as_tensor(0.5, device=d)``)
    bypass the dispatcher's Python modes and are not seen.
    """

    def __init__(self, fake_scalar: bool = True):
        super().__init__()
        self.fake_scalar = fake_scalar
        self.sites: Counter[tuple[str, str]] = Counter()

    @staticmethod
    def _site() -> str:
        frames = traceback.extract_stack()[:-3]
        ours = [f for f in frames if "/metainv/" in f.filename.replace("\\", "/")]
        other = [f for f in frames if "/torch/" not in f.filename.replace("\\", "/")]
        frame = (ours or other or frames)[-1]
        path = frame.filename.replace("\\", "/")
        path = path[path.rfind("/metainv/") + 1:] if "/metainv/" in path else Path(path).name
        return f"{path}:{frame.lineno} ({frame.name})"

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if func is torch.ops.aten._local_scalar_dense.default:
            if tensors and tensors[0].device.type == "cpu":  # a host tensor: nothing to wait for
                return func(*args, **kwargs)
            self.sites[("scalar read (.item/float/bool)", self._site())] += 1
            if self.fake_scalar and tensors and tensors[0].device.type == "meta":
                return 1 if not tensors[0].is_floating_point() else 1.0
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        if func in (torch.ops.aten._to_copy.default, torch.ops.aten.copy_.default) and tensors:
            src = (tensors[-1] if func is torch.ops.aten.copy_.default else tensors[0]).device.type
            dst = out.device.type if isinstance(out, torch.Tensor) else src
            if src != dst and "cpu" in (src, dst):
                self.sites[(f"copy {src}→{dst}", self._site())] += 1
        return out


def run_in_fresh_process(script: str, spec: dict) -> dict:
    """Run ``script --one '<spec as JSON>'`` in a new Python process and return the JSON dict
    it prints last: each measurement starts from an empty allocator, so peak memory is its own."""
    proc = subprocess.run([sys.executable, script, "--one", json.dumps(spec)], capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])
