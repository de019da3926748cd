"""float32 vs float64 second-order meta-gradients at the shipped configurations.

ARCHITECTURE.md ("Numerics") warns that the summed inner loss can amplify rounding through the inner loop. This
prints the relative difference ‖g32 − g64‖ / ‖g64‖ of the full meta-gradient (θ and the inner
rates, and the DnCNN for Meta-RED) for an untrained SIREN at each configuration we ship.

    python benchmarks/precision.py [--paper]      # --paper adds 128², 5×256, m=7 (slow on CPU)
"""

from __future__ import annotations

import argparse
import time

import torch

from _common import meta_loss_fn, meta_red_loss_fn

CONFIGS = {  # name: (resolution, hidden, layers, m, batch)
    "tiny test (24², 3×24, m=7)": (24, 24, 3, 7, 2),
    "quick (32², 4×64, m=7)": (32, 64, 4, 7, 2),
    "32², 5×256, m=5": (32, 256, 5, 5, 2),
}
PAPER = {"paper (128², 5×256, m=7)": (128, 256, 5, 7, 1)}
# Meta-RED: resolution, SIREN hidden/layers, DnCNN depth/features, m, f, batch
META_RED = {"Meta-RED quick (64², 4×64, DnCNN 6×32)": (64, 64, 4, 6, 32, 3, 3, 2)}
META_RED_PAPER = {"Meta-RED paper (64², 5×256, DnCNN 17×64)": (64, 256, 5, 17, 64, 3, 3, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paper", action="store_true", help="also the paper-size configuration")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    configs = {**CONFIGS, **(PAPER if args.paper else {})}
    print(f"device: {args.device}")
    print(f"{'configuration':42s} {'f32 vs f64':>12s} {'seconds':>8s}")
    runs = [(name, meta_loss_fn, c) for name, c in configs.items()]
    runs += [(name, meta_red_loss_fn, c) for name, c in {**META_RED, **(META_RED_PAPER if args.paper else {})}.items()]
    for name, make_loss, config in runs:
        t0 = time.perf_counter()
        grads = {}
        for dtype in (torch.float32, torch.float64):
            loss, params = make_loss(*config, dtype, args.device)
            grads[dtype] = torch.cat([g.flatten().double() for g in torch.autograd.grad(loss(), params)])
        rel = ((grads[torch.float32] - grads[torch.float64]).norm() / grads[torch.float64].norm()).item()
        print(f"{name:42s} {rel:12.2e} {time.perf_counter() - t0:8.1f}")


if __name__ == "__main__":
    main()
