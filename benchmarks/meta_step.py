"""Time and peak memory of one second-order meta-step (forward + backward + Adam update).

    python benchmarks/meta_step.py [--device cuda] [--experiments meta_center_m2 meta_center_m7]
    python benchmarks/meta_step.py --config config/config.yaml --config config/quick.yaml

Each experiment's meta-step is built from the resolved config (default the paper's: 128²,
SIREN 5 × 256, batch 5): its sizes, inner steps, rates (``inner.lr_param``), solver and outer
loss. Prints, per experiment, milliseconds per meta-step, meta-steps/s, images/s and peak
memory (CUDA: max allocated; CPU: process max RSS, which includes the interpreter and torch).
"""

from __future__ import annotations

import argparse

import torch

from _common import (add_config_argument, config_label, config_paths, describe, meta_problem, resolved_config,
                     time_and_peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(parser)
    parser.add_argument("--experiments", nargs="+", default=["meta_center_m2", "meta_center_m7"],
                        help="config.experiments ids (meta) to time")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tf32", action="store_true")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    device = torch.device(args.device)
    resolved = resolved_config(config_paths(args))
    print(f"device: {device}, torch threads: {torch.get_num_threads()}, tf32: {args.tf32}; "
          f"config: {config_label(args)}")
    print(f"{'experiment (sizes)':46s} {'ms/step':>9s} {'steps/s':>8s} {'img/s':>8s} {'peak MiB':>9s}")
    for eid in args.experiments:
        problem = meta_problem(resolved, eid, device)
        dt, peak = time_and_peak(problem.optimiser_step(), device, args.repeats)
        label = f"{eid} ({describe(problem.spec, resolved)})"
        print(f"{label:46s} {dt * 1e3:9.1f} {1 / dt:8.2f} {problem.images / dt:8.1f} {peak:9.0f}")


if __name__ == "__main__":
    main()
