"""Time and peak memory of one training step of the learned baselines at the configured sizes.

* UNet (Tables 1–2; ``unet_center``, ``unet_random``): one step of
  :func:`metainv.train.make_supervised_step` — L2 to ground truth, input = zero-filled
  measurement + mask, measurements drawn by :func:`metainv.recon.measure`.
* Unrolled RED(12) / HQS(12) (Table 4; ``red_12_unrolled``, ``hqs_12_unrolled``): the same
  step fine-tuning the DnCNN of ``config.denoiser`` through the unrolled solver
  (:func:`metainv.learned.build_unrolled`, parameters of ``params_from``), with and without
  activation checkpointing of the DnCNN.

Sizes, batch, channels, learning rate and operators are the resolved config's (default the
paper's). Each configuration runs in a fresh process so peak figures do not mix (CPU: the
process's maximum resident size; CUDA: torch.cuda.max_memory_allocated).

    python benchmarks/baselines.py                                                   # paper config
    python benchmarks/baselines.py --config config/config.yaml --config config/quick.yaml
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (add_config_argument, config_label, config_paths, parse_or_run_one,  # noqa: E402
                     run_in_fresh_process)

UNETS = ("unet_center", "unet_random")
UNROLLED = ("red_12_unrolled", "hqs_12_unrolled")


def one(configs: list[str], experiment: str, device: str, repeats: int, checkpoint: bool = False) -> dict:
    import numpy as np
    import torch
    from _common import build_denoiser, resolved_config, solver_params, time_and_peak

    from metainv.learned import build_unet, build_unrolled
    from metainv.recon import measure
    from metainv.train import make_supervised_step

    dev = torch.device(device)
    resolved = resolved_config(configs)
    spec = copy.deepcopy(resolved.all[experiment])
    if spec["method"] == "unet":
        model = build_unet(spec)
    else:
        spec["unrolled"]["checkpoint_denoiser"] = checkpoint
        model = build_unrolled(spec, build_denoiser(resolved), solver_params(resolved, spec))
    model = model.to(dev).train()
    train = spec["train"]
    res = int(spec["task"]["resolution"])
    images = np.random.default_rng(0).integers(0, 256, (64, res, res, 3), dtype=np.uint8)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=float(train["lr"]))
    step = make_supervised_step(model, opt, images, torch.Generator().manual_seed(0),
                                lambda x, g: measure(spec, x, g), int(train["batch_size"]), dev,
                                loss=train["loss"], grad_clip=train["grad_clip"])
    seconds, peak = time_and_peak(lambda: step(0), dev, repeats)
    return {"seconds_per_step": seconds, "peak_mib": peak, "res": res, "batch": int(train["batch_size"]),
            "parameters": sum(p.numel() for p in model.parameters())}


def run_one(spec: dict) -> dict:
    return run_in_fresh_process(__file__, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(parser)
    args = parse_or_run_one(parser, one, repeats=3)
    if args is None:
        return
    import torch

    device = args.device
    configs = [str(p) for p in config_paths(args)]
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device} ({name}); config: {config_label(args)}; "
          f"one training step (train.loss to ground truth); mean of {args.repeats} after a warm-up")
    print(f"{'model':34s} {'params':>9s} {'s/step':>8s} {'peak MiB':>9s}")
    for eid in UNETS:
        r = run_one(dict(configs=configs, experiment=eid, device=device, repeats=args.repeats))
        label = f"{eid} {r['res']}² ×{r['batch']}"
        print(f"{label:34s} {r['parameters']:9d} {r['seconds_per_step']:8.3f} {r['peak_mib']:9.0f}", flush=True)
    for eid in UNROLLED:
        for checkpoint in (False, True):
            r = run_one(dict(configs=configs, experiment=eid, device=device, repeats=args.repeats,
                             checkpoint=checkpoint))
            label = f"{eid} {r['res']}² ×{r['batch']}{' ckpt' if checkpoint else ''}"
            print(f"{label:34s} {r['parameters']:9d} {r['seconds_per_step']:8.3f} {r['peak_mib']:9.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
