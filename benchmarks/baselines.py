"""Time and peak memory of one training step of the learned baselines at the paper's sizes.

* UNet (Tables 1–2): one Adam step of L2 to ground truth, input = zero-filled measurement +
  mask; centre inpainting at 128² and random pixels at 32², batch 5, stages 64-128-256-512.
* Unrolled RED(12) / HQS(12) (Table 4): one Adam step fine-tuning a 17 × 64 DnCNN through 12
  solver iterations at 64², batch 3, with and without activation checkpointing of the DnCNN.

Each configuration runs in a fresh process so peak figures do not mix (CPU: the process's
maximum resident size; CUDA: torch.cuda.max_memory_allocated).

    python benchmarks/baselines.py                 # paper sizes, CUDA when present
    python benchmarks/baselines.py --scale quick   # the quick configuration's sizes
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import run_in_fresh_process  # noqa: E402

SCALES = {
    "paper": {
        "unet": [dict(task="inpaint_center", res=128, batch=5, cps=[64, 128, 256, 512]),
                 dict(task="inpaint_random", res=32, batch=5, cps=[64, 128, 256, 512])],
        "unrolled": dict(res=64, batch=3, depth=17, features=64, steps=12),
    },
    "quick": {
        "unet": [dict(task="inpaint_center", res=32, batch=5, cps=[16, 32, 64]),
                 dict(task="inpaint_random", res=32, batch=5, cps=[16, 32, 64])],
        "unrolled": dict(res=64, batch=3, depth=6, features=32, steps=12),
    },
}
OPERATORS = {
    "inpaint_center": {"kind": "inpaint_center"},
    "inpaint_random": {"kind": "inpaint_random", "observed_range": [10, 1000], "half_probability": 0.2},
    "blur": {"kind": "blur", "kernel_size": 11, "kernel_std": 1.5, "noise_std": 0.015},
}
PARAMS = {"red": {"lam": 200.0, "sigma_f": 0.05}, "hqs": {"lam": 0.23, "sigma_start": 0.19, "sigma_end": 0.025}}


def one(kind: str, cfg: dict, device: str, repeats: int, method: str | None = None,
        checkpoint: bool = False) -> dict:
    import torch
    from _common import time_and_peak

    from metainv.physics import build_operator

    dev = torch.device(device)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    n, res = cfg["batch"], cfg["res"]
    x = torch.rand(n, 3, res, res, generator=gen).to(dev)
    if kind == "unet":
        from metainv.nets.unet import InpaintingUNet

        model = InpaintingUNet(channels_per_scale=cfg["cps"]).to(dev).train()
        op_spec = OPERATORS[cfg["task"]]
    else:
        from metainv.nets.dncnn import DnCNN
        from metainv.solvers.unrolled import UnrolledSolver

        model = UnrolledSolver(method, DnCNN(depth=cfg["depth"], features=cfg["features"]), PARAMS[method],
                               steps=cfg["steps"], checkpoint_denoiser=checkpoint).to(dev).train()
        op_spec = OPERATORS["blur"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)

    def step():
        op = build_operator(op_spec, n, res, res, gen, dev)
        y = op.measure(x, gen)
        opt.zero_grad(set_to_none=True)
        (model(y, op) - x).pow(2).mean().backward()
        opt.step()

    seconds, peak = time_and_peak(step, dev, repeats)
    return {"seconds_per_step": seconds, "peak_mib": peak,
            "parameters": sum(p.numel() for p in model.parameters())}


def run_one(spec: dict) -> dict:
    return run_in_fresh_process(__file__, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="paper", choices=list(SCALES))
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(**json.loads(args.one))))
        return
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device} ({name}); scale: {args.scale}; one Adam step, L2 to ground truth; "
          f"mean of {args.repeats} after a warm-up")
    print(f"{'model':34s} {'params':>9s} {'s/step':>8s} {'peak MiB':>9s}")
    scale = SCALES[args.scale]
    for cfg in scale["unet"]:
        r = run_one(dict(kind="unet", cfg=cfg, device=device, repeats=args.repeats))
        label = f"UNet {cfg['task']} {cfg['res']}² ×{cfg['batch']}"
        print(f"{label:34s} {r['parameters']:9d} {r['seconds_per_step']:8.3f} {r['peak_mib']:9.0f}")
    cfg = scale["unrolled"]
    for method in ("red", "hqs"):
        for checkpoint in (False, True):
            r = run_one(dict(kind="unrolled", cfg=cfg, device=device, repeats=args.repeats, method=method,
                             checkpoint=checkpoint))
            label = (f"{method.upper()}({cfg['steps']}) {cfg['res']}² ×{cfg['batch']} "
                     f"DnCNN {cfg['depth']}×{cfg['features']}{' ckpt' if checkpoint else ''}")
            print(f"{label:34s} {r['parameters']:9d} {r['seconds_per_step']:8.3f} {r['peak_mib']:9.0f}")


if __name__ == "__main__":
    main()
