"""Peak memory and time of one Meta-RED meta-step (second order), with and without
activation checkpointing of the DnCNN, frozen (Table 3) and fine-tuned (Table 4); the frozen
DnCNN also as it was before ``build_solver`` folded its BatchNorm (``folded`` False).

One meta-step: m inner SIREN updates, each backpropagating through f RED updates (each a
DnCNN call and a Fourier data step), then the outer loss of f(φ_θm) and its gradient w.r.t. θ,
the Meta-SGD rates and (fine-tuned) the DnCNN. The experiments (default ``meta_red_l2`` and
``meta_red_ft_l2``) are built from the resolved config: sizes, m, f, the DnCNN of
``config.denoiser``, blur, λ and σ_f (``params_from``); only ``solver.checkpoint_denoiser`` and
the folding are switched. Each configuration runs in a fresh process so peak figures do not mix.

    python benchmarks/meta_red.py                                   # the paper config
    python benchmarks/meta_red.py --config config/config.yaml --config config/quick.yaml

CPU: peak resident memory of the process, and its growth over the state after set-up (the
part the meta-step needs). CUDA: torch.cuda.max_memory_allocated.
"""

from __future__ import annotations

import argparse
import copy

from _common import (add_config_argument, config_label, config_paths, parse_or_run_one, resolved_config,
                     run_in_fresh_process)


def one(configs: list[str], experiment: str, checkpoint: bool, device: str, repeats: int,
        folded: bool = True) -> dict:
    import torch

    from _common import describe, meta_problem, reset_peak_rss, time_and_peak

    dev = torch.device(device)
    resolved = resolved_config(configs)
    spec = copy.deepcopy(resolved.all[experiment])
    spec["solver"]["checkpoint_denoiser"] = checkpoint
    problem = meta_problem(resolved, experiment, dev, spec=spec, fold_denoiser=folded)
    base = reset_peak_rss() if dev.type == "cpu" else None
    step = problem.optimiser_step()
    seconds, peak = time_and_peak(step, dev, repeats)
    out = {"experiment": experiment, "sizes": describe(problem.spec, resolved), "checkpoint": checkpoint,
           "finetune": bool(spec["denoiser"]["finetune"]), "folded": folded and not spec["denoiser"]["finetune"],
           "seconds_per_step": seconds, "peak_mib": peak}
    if base is not None:
        out["growth_mib"] = peak - base
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(parser)
    parser.add_argument("--experiments", nargs="+", default=["meta_red_l2", "meta_red_ft_l2"])
    args = parse_or_run_one(parser, one, repeats=2)
    if args is None:
        return
    device = args.device
    configs = [str(p) for p in config_paths(args)]
    print(f"device: {device}; config: {config_label(args)}; "
          "one Meta-RED meta-step (second order)")
    print(f"{'experiment':16s} {'sizes':42s} {'DnCNN':>10s} {'folded':>7s} {'checkpoint':>10s} {'s/step':>8s} "
          f"{'peak MiB':>9s} {'growth MiB':>10s}")
    resolved = resolved_config(configs)
    for eid in args.experiments:
        # a fine-tuned DnCNN trains, so it is never folded: nothing to compare
        for folded in (True,) if resolved.all[eid]["denoiser"]["finetune"] else (True, False):
            for checkpoint in (False, True):
                r = run_in_fresh_process(__file__, dict(configs=configs, experiment=eid, checkpoint=checkpoint,
                                                        device=device, repeats=args.repeats, folded=folded))
                print(f"{eid:16s} {r['sizes']:42s} {'fine-tuned' if r['finetune'] else 'frozen':>10s} "
                      f"{str(r['folded']):>7s} {str(checkpoint):>10s} {r['seconds_per_step']:8.2f} "
                      f"{r['peak_mib']:9.0f} {r.get('growth_mib', float('nan')):10.0f}", flush=True)


if __name__ == "__main__":
    main()
