"""float32 vs float64 second-order meta-gradients of the configured experiments.

ARCHITECTURE.md ("Numerics") warns that the summed inner loss can amplify rounding through
the inner loop. This prints the relative difference ‖g32 − g64‖ / ‖g64‖ of the full
meta-gradient (θ and the inner rates, and the DnCNN for fine-tuned Meta-RED) for an untrained
SIREN, per experiment of the resolved config (default the paper's; slow on a CPU at 128²)::

    python benchmarks/precision.py --config config/config.yaml --config config/quick.yaml
    python benchmarks/precision.py --experiments meta_center_m7 meta_red_l2
"""

from __future__ import annotations

import argparse
import time

import torch

from _common import add_config_argument, config_label, config_paths, describe, meta_problem, resolved_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(parser)
    parser.add_argument("--experiments", nargs="+",
                        default=["meta_center_m2", "meta_center_m7", "meta_random", "meta_red_l2", "meta_red_ft_l2"],
                        help="config.experiments ids (meta)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    resolved = resolved_config(config_paths(args))
    print(f"device: {args.device}; config: {config_label(args)}")
    print(f"{'experiment (sizes)':62s} {'f32 vs f64':>12s} {'seconds':>8s}")
    for eid in args.experiments:
        t0 = time.perf_counter()
        grads = {}
        for dtype in (torch.float32, torch.float64):
            problem = meta_problem(resolved, eid, torch.device(args.device), dtype)
            grads[dtype] = torch.cat([g.flatten().double()
                                      for g in torch.autograd.grad(problem.loss(), problem.params)])
        rel = ((grads[torch.float32] - grads[torch.float64]).norm() / grads[torch.float64].norm()).item()
        label = f"{eid} ({describe(problem.spec, resolved)})"
        print(f"{label:62s} {rel:12.2e} {time.perf_counter() - t0:8.1f}", flush=True)


if __name__ == "__main__":
    main()
