"""Throughput and peak memory of one RED and one HQS iteration (Table 3's setting).

    python benchmarks/solvers.py [--device cuda] [--batches 1 16 128] [--grad]
    python benchmarks/solvers.py --config config/config.yaml --config config/quick.yaml

One iteration = closed-form Fourier data step + one DnCNN pass (eval mode, weights frozen),
as :func:`metainv.solvers.red.red_step` / :func:`metainv.solvers.hqs.hqs_step` run it inside
the classical solvers. Everything comes from the resolved config (default the paper's): the
deblurring task's resolution, blur and noise (:func:`metainv.recon.measure`), the DnCNN of
``config.denoiser`` (17 × 64 in the paper config), the configured parameters of ``red_12`` and
``hqs_12`` (HQS at the middle of its σ_k schedule). ``--grad`` also backpropagates to the
input, as the unrolled and meta-learned solvers do. Prints images/s and peak memory per batch
size: CUDA → ``max_memory_allocated`` (reset per configuration); CPU → the process's maximum
RSS so far (interpreter and torch included; batches run in increasing order, so each row
bounds the peak of that batch size from above).
"""

from __future__ import annotations

import argparse

import torch

from _common import (add_config_argument, build_denoiser, config_label, config_paths, resolved_config,
                     time_and_peak)
from metainv.config import denoiser_spec
from metainv.recon import measure
from metainv.solvers import check_params
from metainv.solvers.hqs import hqs_schedule, hqs_step
from metainv.solvers.red import red_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(parser)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--red", default="red_12", help="RED experiment whose parameters are used")
    parser.add_argument("--hqs", default="hqs_12", help="HQS experiment whose parameters and schedule are used")
    parser.add_argument("--grad", action="store_true", help="forward + backward to the input")
    args = parser.parse_args()
    device = torch.device(args.device)
    resolved = resolved_config(config_paths(args))
    red_spec, hqs_spec = resolved.all[args.red], resolved.all[args.hqs]
    red_params = check_params("red", red_spec["classical"]["params"])
    hqs_params = check_params("hqs", hqs_spec["classical"]["params"])
    net = build_denoiser(resolved, device).requires_grad_(False)
    res = int(red_spec["task"]["resolution"])
    noise = float(red_spec["task"]["operator"]["noise_std"])
    steps = int(hqs_spec["classical"]["steps"])
    schedule = {k: v for k, v in hqs_params.items() if k != "relax"}
    relax = {k: v for k, v in hqs_params.items() if k == "relax"}
    sigmas, rhos = hqs_schedule(steps, noise, **schedule)
    d = denoiser_spec(resolved.config)
    name = {"cpu": f"cpu ({torch.get_num_threads()} threads)"}.get(device.type, torch.cuda.get_device_name(device)
                                                                   if device.type == "cuda" else str(device))
    print(f"device: {name}; config: {config_label(args)}; DnCNN "
          f"{d['depth']}×{d['features']}; {res}×{res}; {'forward + backward' if args.grad else 'forward only (no_grad)'}")
    print(f"{'solver':6s} {'batch':>6s} {'ms/iter':>9s} {'images/s':>10s} {'peak MiB':>9s}")
    for batch in sorted(args.batches):
        x = torch.rand(batch, 3, res, res, generator=torch.Generator().manual_seed(1)).to(device)
        op, y = measure(red_spec, x, torch.Generator().manual_seed(2))
        aty = op.adjoint(y)
        k = steps // 2
        iterations = {
            "RED": lambda z: red_step(z, y, op, net, noise_std=noise, aty=aty, **red_params),
            "HQS": lambda z: hqs_step(z, aty, op, net, rhos[k], sigmas[k], **relax),
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
