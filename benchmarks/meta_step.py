"""Time and peak memory of one second-order meta-step (forward + backward + Adam update).

    python benchmarks/meta_step.py [--device cuda] [--paper]

Prints, per configuration, milliseconds per meta-step, meta-steps/s, images/s and peak memory
(CUDA: max allocated; CPU: process max RSS, which includes the interpreter and torch).
"""

from __future__ import annotations

import argparse

import torch

from _common import meta_loss_fn, time_and_peak

CONFIGS = {  # name: (resolution, hidden, layers, m, batch)
    "quick (32², 4×64, m=5, B=5)": (32, 64, 4, 5, 5),
    "quick (32², 4×64, m=7, B=5)": (32, 64, 4, 7, 5),
}
PAPER = {
    "paper (128², 5×256, m=2, B=5)": (128, 256, 5, 2, 5),
    "paper (128², 5×256, m=7, B=5)": (128, 256, 5, 7, 5),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--paper", action="store_true", help="also the paper-size configurations")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tf32", action="store_true")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    device = torch.device(args.device)
    configs = {**CONFIGS, **(PAPER if args.paper else {})}
    print(f"device: {device}, torch threads: {torch.get_num_threads()}, tf32: {args.tf32}")
    print(f"{'configuration':34s} {'ms/step':>9s} {'steps/s':>8s} {'img/s':>8s} {'peak MiB':>9s}")
    for name, (res, hidden, layers, m, batch) in configs.items():
        loss, params = meta_loss_fn(res, hidden, layers, m, batch, torch.float32, device)
        opt = torch.optim.Adam(params, lr=1e-5)

        def step():
            opt.zero_grad(set_to_none=True)
            loss().backward()
            opt.step()

        dt, peak = time_and_peak(step, device, args.repeats)
        print(f"{name:34s} {dt * 1e3:9.1f} {1 / dt:8.2f} {batch / dt:8.1f} {peak:9.0f}")


if __name__ == "__main__":
    main()
