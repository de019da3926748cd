"""Throughput and peak memory of one RED and one HQS iteration at 64×64 (Table 3's setting).

    python benchmarks/solvers.py [--device cuda] [--batches 1 16 128] [--grad] [--depth 17 --features 64]

One iteration = closed-form Fourier data step + one DnCNN pass (17 × 64, the paper's, by
default; eval mode, weights frozen). ``--grad`` also backpropagates to the input, as the
unrolled and meta-learned solvers do. Prints images/s and peak memory per batch size:
CUDA → ``max_memory_allocated`` (reset per configuration); CPU → the process's maximum RSS so
far (interpreter and torch included; batches run in increasing order, so each row bounds the
peak of that batch size from above).
"""

from __future__ import annotations

import argparse

import torch

from metainv.nets.dncnn import DnCNN
from metainv.physics import build_operator
from metainv.solvers.hqs import hqs_schedule, hqs_step
from metainv.solvers.red import red_step

from _common import time_and_peak

BLUR = {"kind": "blur", "kernel_size": 11, "kernel_std": 1.5, "noise_std": 0.015}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--depth", type=int, default=17)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--grad", action="store_true", help="forward + backward to the input")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = DnCNN(depth=args.depth, features=args.features).to(device).eval().requires_grad_(False)
    res = args.resolution
    op = build_operator(BLUR, 1, res, res)
    sigmas, rhos = hqs_schedule(12, 0.015, 0.23, 0.19, 0.025)
    name = {"cpu": f"cpu ({torch.get_num_threads()} threads)"}.get(device.type, torch.cuda.get_device_name(device)
                                                                   if device.type == "cuda" else str(device))
    print(f"device: {name}; DnCNN {args.depth}×{args.features}; {res}×{res}; "
          f"{'forward + backward' if args.grad else 'forward only (no_grad)'}")
    print(f"{'solver':6s} {'batch':>6s} {'ms/iter':>9s} {'images/s':>10s} {'peak MiB':>9s}")
    for batch in sorted(args.batches):
        x = torch.rand(batch, 3, res, res, generator=torch.Generator().manual_seed(1)).to(device)
        y = op.measure(x, torch.Generator().manual_seed(2))
        aty = op.adjoint(y)
        iterations = {
            "RED": lambda z: red_step(z, y, op, net, 200.0, 0.05, 0.015, aty),
            "HQS": lambda z: hqs_step(z, aty, op, net, rhos[6], sigmas[6]),
        }
        for solver, iterate in iterations.items():
            def run() -> None:
                z = y.clone().requires_grad_(args.grad)
                with torch.set_grad_enabled(args.grad):
                    out = iterate(z)
                    if args.grad:
                        out.square().sum().backward()

            dt, peak = time_and_peak(run, device, args.repeats)
            print(f"{solver:6s} {batch:6d} {dt * 1e3:9.1f} {batch / dt:10.1f} {peak:9.0f}", flush=True)


if __name__ == "__main__":
    main()
