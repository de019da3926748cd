"""Peak memory and time of one Meta-RED meta-step (second order), with and without
activation checkpointing of the DnCNN.

One meta-step: m inner SIREN updates, each backpropagating through f RED updates (each a
DnCNN call and a Fourier data step), then the outer loss of f(φ_θm) and its gradient w.r.t. θ,
the Meta-SGD rates and (fine-tuned) the DnCNN. Each configuration runs in a fresh process so
peak figures do not mix.

    python benchmarks/meta_red.py                  # quick scale and paper scale, CPU or GPU
    python benchmarks/meta_red.py --scales quick   # only the quick scale

CPU: peak resident memory of the process, and its growth over the state after set-up (the
part the meta-step needs). CUDA: torch.cuda.max_memory_allocated.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from _common import run_in_fresh_process

SCALES = {  # resolution, SIREN (hidden, layers), DnCNN (depth, features), batch, m, f
    "quick": dict(res=64, hidden=64, layers=4, depth=6, features=32, batch=3, m=3, f=3),
    "paper": dict(res=64, hidden=256, layers=5, depth=17, features=64, batch=3, m=3, f=3),
}


def one(scale: str, checkpoint: bool, finetune: bool, device: str, repeats: int) -> dict:
    import torch

    from metainv.meta.inner_lr import InnerLearningRates
    from metainv.meta.maml import adapt, outer_loss
    from metainv.nets.dncnn import DnCNN
    from metainv.nets.siren import Siren
    from metainv.physics import build_operator
    from metainv.solvers import build_solver

    c = SCALES[scale]
    dev = torch.device(device)
    siren = Siren(hidden=c["hidden"], layers=c["layers"]).to(dev)
    rates = InnerLearningRates([p.shape for p in siren.params], c["m"], "meta_sgd", 0.01).to(dev)
    den = DnCNN(depth=c["depth"], features=c["features"]).to(dev).eval()
    den.requires_grad_(finetune)
    x = torch.rand(c["batch"], 3, c["res"], c["res"], device=dev)
    op = build_operator({"kind": "blur", "kernel_size": 11, "kernel_std": 1.5, "noise_std": 0.015},
                        c["batch"], c["res"], c["res"], device=dev)
    y = op.measure(x)
    solver = build_solver({"kind": "red", "steps": c["f"], "checkpoint_denoiser": checkpoint},
                         denoiser=den, params={"lam": 200.0, "sigma_f": 0.05})
    params = list(siren.parameters()) + list(rates.parameters()) + (list(den.parameters()) if finetune else [])
    opt = torch.optim.Adam(params, lr=1e-5)

    def step():
        opt.zero_grad(set_to_none=True)
        outer_loss(adapt(siren, rates, y, op, solver, c["m"], reduction="sum").output, x, "l2").backward()
        opt.step()

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / repeats
    out = {"scale": scale, "checkpoint": checkpoint, "finetune": finetune, "device": device,
           "seconds_per_step": seconds}
    if dev.type == "cuda":
        out["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.update(peak_mib=peak, growth_mib=peak - base)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES))
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(**json.loads(args.one))))
        return
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device: {device}; one Meta-RED meta-step (second order, Meta-SGD), batch 3, m = 3, f = 3")
    print(f"{'scale':6s} {'DnCNN':>10s} {'checkpoint':>10s} {'s/step':>8s} {'peak MiB':>9s} {'growth MiB':>10s}")
    for scale in args.scales:
        for finetune in (False, True):
            for checkpoint in (False, True):
                spec = dict(scale=scale, checkpoint=checkpoint, finetune=finetune, device=device, repeats=args.repeats)
                r = run_in_fresh_process(__file__, spec)
                print(f"{scale:6s} {'fine-tuned' if finetune else 'frozen':>10s} {str(checkpoint):>10s} "
                      f"{r['seconds_per_step']:8.2f} {r['peak_mib']:9.0f} {r.get('growth_mib', float('nan')):10.0f}")


if __name__ == "__main__":
    main()
