"""This project's kernels against what a user would pick instead, side by side in one process.

    python benchmarks/peers.py [hqs] [meta] [--repeats 7] [--sizes paper|tiny] [--threads N]
    python benchmarks/peers.py meta --cases b --repeats 11 --device cuda

Each comparison first checks that both sides compute the same thing (printed), then times
them interleaved (one call of each per round, the order alternating, after a warm-up call of
each) and prints the median ms per call of every side and this project's ratio; a ratio ≤ 1.0
means this project is at least as fast.

``hqs`` — one HQS iteration, no_grad (the classical solvers' setting): the deblurring task of
the config (``tasks.deblur``: 64², Gaussian blur 11 × 11, σ_b = 1.5, AWGN 0.015), a batch of
32, the DnCNN of ``config.denoiser`` (17 × 64) with ``hqs_12``'s parameters at the middle of
its σ_k schedule. Ours: :func:`metainv.solvers.hqs.hqs_step` (closed-form Fourier data step
with Aᵀy computed once, then the DnCNN at level σ_k by input scaling) with the DnCNN as the
classical solvers run it (:func:`metainv.nets.dncnn.inference_denoiser`: BatchNorm folded,
channels-last on the CPU; also printed: the same step with the DnCNN as trained, BatchNorm
layers, N×C×H×W). deepinv 0.5.0: ``optim_builder("HQS")`` with ``L2`` data fidelity on
``BlurFFT`` (the same kernel), a ``PnP`` prior on ``deepinv.models.DnCNN`` (bias in every
convolution, no BatchNorm) and ρ_k as ``stepsize`` = 1/ρ_k, ``max_iter=1``, called from the
same iterate (``init``; its prox recomputes Aᵀy every iteration). The weights are ours:
BatchNorm (running statistics and affine terms perturbed from their initial values, so the
check means something) folded into the convolutions it follows, the last layer negated (ours
returns y − R(y), deepinv R(y) + y). What differs: deepinv's DnCNN takes no noise level, so
ours scales its input by σ₀/σ_k and back (two elementwise products); the check runs ours at
σ_k = σ₀ (scale 1), where the two are the same map.

``meta`` — the second-order meta-step of centre inpainting (gradient descent as f, Eq. 6;
per-step inner rates in log space; mean-reduced inner loss; L2 outer loss): the meta-gradient
of the outer loss (Eq. 5) with respect to θ and the rates, through m inner steps whose
gradients keep their graph; no optimiser update on any side. Sizes: (a) SIREN 4 × 64 at 32²,
B = 5, m = 5 (``meta_center_m5``); (b) SIREN 5 × 256 at 64², B = 5, m = 2
(``meta_center_m2``). Ours: :func:`benchmarks._common.meta_problem`'s outer loss (the
package's :func:`metainv.meta.maml.adapt`: every task in one graph, one ``torch.autograd.grad``
per inner step; on the CPU each task's SIREN layer one ``F.linear``) and one
``torch.autograd.grad``; ``ours (baddbmm)`` is the same with the SIREN evaluated by one
``baddbmm`` per layer for all tasks (the package's path on other devices). References written here, from the same θ, rates, mask and
measurements: ``loop`` — a Python loop over tasks, each a plain SIREN (``F.linear``) adapted
with ``torch.autograd.grad(create_graph=True)``, its outer-loss gradient accumulated per task;
``torch.func`` — ``vmap`` over ``grad`` of the per-task inner loss of a ``functional_call``
SIREN module, the meta-gradient by ``torch.func.grad`` of the whole. The three gradients
are compared (max |Δ| over every entry, printed with the largest |∂θ|) before timing; the
minor page faults per step are printed too (fresh memory pages from the kernel).

``--sizes tiny`` runs both at toy sizes (config/config.yaml + benchmarks/tiny.yaml, batch 2;
SIRENs 3 × 16 and 3 × 32 at 8², B = 2) for the test suite.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from _common import PAPER_CONFIG, TINY_CONFIG, build_denoiser, meta_problem, resolved_config
from metainv.config import denoiser_spec
from metainv.nets.dncnn import DnCNN, inference_denoiser
from metainv.physics import Mask
from metainv.recon import measure
from metainv.solvers import check_params
from metainv.solvers.hqs import hqs_schedule, hqs_step

#: per size set: the config files, the HQS batch, and the meta-step cases
#: (label, experiment, resolution, SIREN layers, hidden width, tasks B)
SIZES: dict[str, dict] = {
    "paper": {"configs": [PAPER_CONFIG], "hqs_batch": 32,
              "meta": [("a", "meta_center_m5", 32, 4, 64, 5), ("b", "meta_center_m2", 64, 5, 256, 5)]},
    "tiny": {"configs": [PAPER_CONFIG, TINY_CONFIG], "hqs_batch": 2,
             "meta": [("a", "meta_center_m5", 8, 3, 16, 2), ("b", "meta_center_m2", 8, 3, 32, 2)]},
}


# -- timing ------------------------------------------------------------------------------------
def interleaved_medians(fns: Mapping[str, Callable[[], object]], repeats: int,
                        device: torch.device) -> dict[str, float]:
    """Median seconds per call of each function: one warm-up call each, then ``repeats``
    rounds of one call each, the order reversed every other round (so neither side always
    runs first, e.g. right after the other has filled the caches). Also, under
    ``"faults"``, the median minor page faults per call of each (fresh pages the allocator
    took from the kernel: on glibc, blocks above its mmap threshold are returned on free)."""
    def once(fn: Callable[[], object]) -> tuple[float, int]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        faults, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults

    for fn in fns.values():
        fn()
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            runs[name].append(once(fns[name]))
    out: dict = {name: statistics.median(t for t, _ in v) for name, v in runs.items()}
    out["faults"] = {name: int(statistics.median(f for _, f in v)) for name, v in runs.items()}
    return out


# -- one HQS iteration: ours vs deepinv ----------------------------------------------------------
def deepinv_dncnn(ours: DnCNN) -> nn.Module:
    """deepinv's DnCNN with the function of ``ours`` in eval mode: BatchNorm folded into the
    convolution before it (deepinv's have biases), the last layer negated (y − R(y) = R'(y) + y
    with R' = −R)."""
    from deepinv.models import DnCNN as DeepinvDnCNN

    folded = inference_denoiser(ours)
    convs = [m for m in folded.body if isinstance(m, nn.Conv2d)]
    theirs = DeepinvDnCNN(in_channels=ours.channels, out_channels=ours.channels, depth=ours.depth, bias=True,
                          nf=ours.features, pretrained=None, device="cpu")
    targets = [theirs.in_conv, *theirs.conv_list, theirs.out_conv]
    with torch.no_grad():
        for i, (src, dst) in enumerate(zip(convs, targets)):
            sign = -1.0 if i == len(targets) - 1 else 1.0
            dst.weight.copy_(sign * src.weight)
            dst.bias.copy_(sign * src.bias)
    device, dtype = next(ours.parameters()).device, next(ours.parameters()).dtype
    return theirs.to(device, dtype).eval().requires_grad_(False)


def perturb_batchnorm(net: nn.Module, seed: int = 0) -> None:
    """Running statistics and affine terms of every BatchNorm away from their initial 0/1,
    as a trained network's are (a fresh one would make folding an identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(0.8 + 0.4 * torch.rand(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))


def hqs_comparison(configs: Sequence, batch: int, repeats: int, device: torch.device,
                   experiment: str = "hqs_12") -> dict:
    """Ms per HQS iteration of ours and deepinv's, and the max |Δ| of one iteration at σ_k = σ₀."""
    import deepinv as dinv

    resolved = resolved_config(configs)
    spec = resolved.all[experiment]
    params = check_params("hqs", spec["classical"]["params"])
    res, noise = int(spec["task"]["resolution"]), float(spec["task"]["operator"]["noise_std"])
    net = build_denoiser(resolved, device).requires_grad_(False)
    perturb_batchnorm(net)
    ours_net = inference_denoiser(net)
    theirs_net = deepinv_dncnn(net)
    x = torch.rand(batch, 3, res, res, generator=torch.Generator().manual_seed(1)).to(device)
    op, y = measure(spec, x, torch.Generator().manual_seed(2))
    aty = op.adjoint(y)
    steps = int(spec["classical"]["steps"])
    sigmas, rhos = hqs_schedule(steps, noise, **{k: v for k, v in params.items() if k != "relax"})
    sigma_k, rho_k = sigmas[steps // 2], rhos[steps // 2]

    physics = dinv.physics.BlurFFT(img_size=(3, res, res), filter=op.kernel[None, None].float(),
                                   device=device)

    def deepinv_iteration(rho: float, sigma: float):
        model = dinv.optim.optim_builder("HQS", prior=dinv.optim.PnP(denoiser=theirs_net),
                                         data_fidelity=dinv.optim.L2(), max_iter=1,
                                         params_algo={"stepsize": 1.0 / rho, "g_param": sigma, "lambda": 1.0})
        return lambda z: model(y, physics, init=z)

    with torch.no_grad():
        same_a = hqs_step(y, aty, op, ours_net, rho_k, net.sigma0)
        same_b = deepinv_iteration(rho_k, net.sigma0)(y)
        diff = float((same_a - same_b).abs().max())
        scale = float(same_a.abs().max())
        theirs = deepinv_iteration(rho_k, sigma_k)

        def ours_step():
            return hqs_step(y, aty, op, ours_net, rho_k, sigma_k)

        def deepinv_step():
            return theirs(y)

        def unfolded_step():
            return hqs_step(y, aty, op, net, rho_k, sigma_k)

        medians = interleaved_medians({"ours": ours_step, "deepinv": deepinv_step, "unfolded": unfolded_step},
                                      repeats, device)
    d = denoiser_spec(resolved.config)
    return {"label": f"{res}², batch {batch}, DnCNN {d['depth']}×{d['features']}, blur "
                     f"{op.kernel.shape[0]}×{op.kernel.shape[1]}, σ_k = {sigma_k:.4f}",
            "max_abs_diff": diff, "max_abs": scale, **medians}


# -- the second-order meta-step: ours vs a per-task loop vs torch.func ---------------------------
class PlainSiren(nn.Module):
    """A SIREN as ``nn.Linear`` layers (sin(ω₀ ·) between them), for ``functional_call``."""

    def __init__(self, sizes: Sequence[int], omega0: float):
        super().__init__()
        self.omega0 = omega0
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = coords
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = torch.sin(self.omega0 * h)
        return h


def plain_render(params: Sequence[torch.Tensor], coords: torch.Tensor, omega0: float,
                 height: int, width: int) -> torch.Tensor:
    """One task's image C×H×W from W, b pairs, with ``F.linear``: (s + 1)/2."""
    h = coords
    n = len(params) // 2
    for layer in range(n):
        h = F.linear(h, params[2 * layer], params[2 * layer + 1])
        if layer < n - 1:
            h = torch.sin(omega0 * h)
    return (h.t().reshape(-1, height, width) + 1.0) * 0.5


class MetaReferences:
    """The meta-gradient of one :class:`~_common.MetaProblem` (centre inpainting, f = gradient
    descent) three ways: ``ours`` (the package), ``loop`` and ``torch.func`` (written here)."""

    def __init__(self, problem, x: torch.Tensor):
        spec = problem.spec
        inner, solver = spec["inner"], problem.solver
        if not (isinstance(problem.op, Mask) and solver.kind == "gd" and inner["order"] == "second"
                and inner["lr_scheme"] == "per_step" and inner["adapt"] == "all"
                and inner["loss_reduction"] == "mean" and spec["outer"]["loss"] == "l2"):
            raise SystemExit(f"{spec['id']}: the references implement a second-order, per-step-rate, "
                             "all-weights meta-step of a masking task with gradient descent as f")
        self.problem, self.target = problem, x
        groups = problem.groups
        self.theta = list(groups[0]["params"])               # W₀, b₀, W₁, b₁, … of the SIREN
        self.log_rates = groups[1]["params"][0]              # s_k, α_k = exp(s_k) (lr_param log)
        self.rate = torch.exp if inner["lr_param"] == "log" else (lambda s: s)
        self.steps = int(inner["steps"])
        self.f_rate, self.f_steps = float(solver.step_size), int(solver.steps)
        self.mask = problem.op.mask[0]                       # 1×H×W, shared by every task
        self.y = self._measurement()
        self.batch, _, self.height, self.width = self.y.shape
        self.omega0 = float(spec["siren"]["omega0"])
        from metainv.nets.siren import coordinate_grid

        self.coords = coordinate_grid(self.height, self.width, x.device, x.dtype)
        self.count = self.mask.expand(self.y.shape[1:]).sum()  # measured values per task
        sizes = [self.theta[0].shape[1]] + [w.shape[0] for w in self.theta[0::2]]
        self.module = PlainSiren(sizes, self.omega0).to(x.device, x.dtype)
        self.names = [f"layers.{i // 2}.{'weight' if i % 2 == 0 else 'bias'}" for i in range(len(self.theta))]

    def _measurement(self) -> torch.Tensor:
        """y of the problem's batch: its outer loss closes over it; recompute it the same way."""
        spec = self.problem.spec
        return measure(spec, self.target, torch.Generator().manual_seed(2))[1]

    def wrt(self) -> list[torch.Tensor]:
        return [*self.theta, self.log_rates]

    def f(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Eq. 6 for a mask: x − α m(m x − y), ``steps`` times."""
        for _ in range(self.f_steps):
            x = x - self.f_rate * self.mask * (self.mask * x - y)
        return x

    def inner_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.mask * x - y).pow(2).sum() / self.count

    # ours: the package's batched inner loop
    def ours(self) -> list[torch.Tensor]:
        return list(torch.autograd.grad(self.problem.loss(), self.wrt()))

    # the same, the SIREN evaluated by one baddbmm per layer for every task
    def ours_baddbmm(self) -> list[torch.Tensor]:
        siren = self.problem.siren
        siren.batched_forward = True
        try:
            return self.ours()
        finally:
            siren.batched_forward = None

    # a per-task Python loop with torch.autograd.grad
    def loop(self) -> list[torch.Tensor]:
        total = [torch.zeros_like(t) for t in self.wrt()]
        for i in range(self.batch):
            params = list(self.theta)
            for k in range(self.steps):
                x = self.f(plain_render(params, self.coords, self.omega0, self.height, self.width), self.y[i])
                grads = torch.autograd.grad(self.inner_loss(x, self.y[i]), params, create_graph=True)
                alpha = self.rate(self.log_rates[k])
                params = [p - alpha * g for p, g in zip(params, grads)]
            x = self.f(plain_render(params, self.coords, self.omega0, self.height, self.width), self.y[i])
            outer = (x - self.target[i]).pow(2).mean() / self.batch
            for acc, g in zip(total, torch.autograd.grad(outer, self.wrt())):
                acc += g
        return total

    # torch.func: vmap over grad of the per-task inner loss
    def func(self) -> list[torch.Tensor]:
        return list(self._func_grad()(tuple(t.detach() for t in self.theta), self.log_rates.detach()))

    def _func_grad(self):
        if getattr(self, "_compiled", None) is None:
            from torch.func import functional_call, grad, vmap

            names, module, coords = self.names, self.module, self.coords

            def image(params: dict) -> torch.Tensor:
                s = functional_call(module, params, (coords,))
                return (s.t().reshape(-1, self.height, self.width) + 1.0) * 0.5

            def task_loss(params: dict, y: torch.Tensor) -> torch.Tensor:
                return self.inner_loss(self.f(image(params), y), y)

            inner_grad = vmap(grad(task_loss))
            solve = vmap(lambda params, y: self.f(image(params), y))

            def meta_loss(theta: tuple, log_rates: torch.Tensor) -> torch.Tensor:
                params = {n: t.unsqueeze(0).expand(self.batch, *t.shape) for n, t in zip(names, theta)}
                for k in range(self.steps):
                    g = inner_grad(params, self.y)
                    alpha = self.rate(log_rates[k])
                    params = {n: params[n] - alpha * g[n] for n in names}
                return (solve(params, self.y) - self.target).pow(2).mean()

            meta_grad = grad(meta_loss, argnums=(0, 1))  # (∂/∂θ per tensor, ∂/∂s)
            self._compiled = lambda theta, s: (lambda g: [*g[0], g[1]])(meta_grad(theta, s))
        return self._compiled


def meta_case(configs: Sequence, eid: str, res: int, layers: int, hidden: int, batch: int,
              device: torch.device) -> MetaReferences:
    """The meta-step of ``eid`` with the SIREN, resolution and batch given, as :class:`MetaReferences`."""
    resolved = resolved_config(configs, {
        "tasks": {"inpaint_center": {"resolution": res}},
        "experiments": {eid: {"siren": {"hidden": hidden, "layers": layers}, "outer": {"batch_size": batch}}},
    })
    problem = meta_problem(resolved, eid, device)
    x = torch.rand(batch, 3, res, res, generator=torch.Generator().manual_seed(1)).to(device)  # meta_problem's x
    return MetaReferences(problem, x)


def gradient_gap(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """max |a − b| over every entry of every tensor."""
    return max(float((u - v).abs().max()) for u, v in zip(a, b))


def meta_comparison(configs: Sequence, case: tuple, repeats: int, device: torch.device) -> dict:
    label, eid, res, layers, hidden, batch = case
    refs = meta_case(configs, eid, res, layers, hidden, batch, device)
    sides = {"ours": refs.ours, "ours (baddbmm)": refs.ours_baddbmm, "loop": refs.loop, "torch.func": refs.func}
    grads = {name: fn() for name, fn in sides.items()}
    scale = max(float(g.abs().max()) for g in grads["ours"][:-1])
    gaps = {name: gradient_gap(grads["ours"], g) for name, g in grads.items() if name != "ours"}
    medians = interleaved_medians(sides, repeats, device)
    return {"label": f"({label}) {eid}: SIREN {layers}×{hidden} at {res}², B = {batch}, m = {refs.steps}",
            "max_abs_grad": scale, "gaps": gaps, **medians}


# -- command line ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", metavar="{hqs,meta}", help="comparisons to run (default: both)")
    parser.add_argument("--sizes", choices=sorted(SIZES), default="paper")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (one call of each side per round)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--cases", nargs="+", default=None, metavar="LABEL",
                        help="meta-step cases to run (default: all; a, b)")
    args = parser.parse_args(argv)
    parts = args.parts or ["hqs", "meta"]
    if set(parts) - {"hqs", "meta"}:
        parser.error(f"unknown comparison(s) {sorted(set(parts) - {'hqs', 'meta'})}: choose hqs, meta")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = SIZES[args.sizes]
    configs = sizes["configs"]
    print(f"device: {device} ({torch.get_num_threads()} CPU threads); torch {torch.__version__}; "
          f"config: {' + '.join(p.name for p in configs)}; medians of {args.repeats} interleaved rounds")
    results: dict = {}
    if "hqs" in parts:
        import deepinv

        r = hqs_comparison(configs, sizes["hqs_batch"], args.repeats, device)
        results["hqs"] = r
        print(f"HQS iteration ({r['label']}), deepinv {deepinv.__version__}")
        print(f"  same map at σ_k = σ₀: max |ours − deepinv| = {r['max_abs_diff']:.2e} "
              f"(max |x| {r['max_abs']:.2f})")
        print(f"  ms/iteration: ours {r['ours'] * 1e3:.1f}, deepinv {r['deepinv'] * 1e3:.1f}; "
              f"ours/deepinv {r['ours'] / r['deepinv']:.2f}× (the DnCNN unfolded, as trained: "
              f"{r['unfolded'] * 1e3:.1f}, {r['unfolded'] / r['deepinv']:.2f}×)", flush=True)
    if "meta" in parts:
        results["meta"] = []
        for case in sizes["meta"]:
            if args.cases and case[0] not in args.cases:
                continue
            r = meta_comparison(configs, case, args.repeats, device)
            results["meta"].append(r)
            fastest = min(("loop", "torch.func"), key=lambda n: r[n])
            print(f"meta-step {r['label']}")
            gaps = ", ".join(f"max |ours − {n}| = {g:.2e}" for n, g in r["gaps"].items())
            print(f"  same meta-gradient: {gaps} (max |∂θ| {r['max_abs_grad']:.2e})")
            print(f"  ms/step: ours {r['ours'] * 1e3:.1f}, ours (baddbmm) {r['ours (baddbmm)'] * 1e3:.1f}, "
                  f"loop {r['loop'] * 1e3:.1f}, torch.func {r['torch.func'] * 1e3:.1f}; "
                  f"ours/fastest reference ({fastest}) {r['ours'] / r[fastest]:.2f}×", flush=True)
            print("  minor page faults/step: " + ", ".join(f"{n} {f}" for n, f in r["faults"].items()))
    return results


if __name__ == "__main__":
    main()
