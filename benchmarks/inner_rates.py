"""Do the learned inner rates move at the paper's settings? (issue 10, item 1)

Meta-trains a centre-inpainting experiment (Table 1: GD solver, per-step rates α_k, default
``meta_center_m2``) with the workflow's own stage (``meta_train``: Algorithm 2, the
experiment's SIREN, batch, Adam learning rates and rate parametrisation ``inner.lr_param`` as
the resolved config gives them) and prints the per-step rates and inner losses as they move.
Flags override single keys of the experiment, e.g. the parametrisation (``--param linear|log``)
and the rates' Adam learning rate (``--rate-lr``)::

    python benchmarks/inner_rates.py --config config/config.yaml --config config/faces.yaml \\
        --folder ../shared/data/celeba-dev/img_align_celeba --resolution 64 \\
        --outer-steps 200 --param log --rate-lr 0.02

Writes a CSV (one row per outer step) with ``--out``.
"""

from __future__ import annotations

import os

# one BLAS thread: with torch loaded, OpenBLAS's thread pool made each scipy interpolation
# take seconds instead of milliseconds on a shared 2-core machine
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import copy

import pandas as pd
import torch

from _common import (add_config_argument, add_data_arguments, config_paths, data_overrides, describe,
                     resolved_config, store_dir, train_meta)
from metainv.config import deep_merge


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_argument(p)
    add_data_arguments(p)
    p.add_argument("--experiment", default="meta_center_m2")
    p.add_argument("--resolution", type=int, default=None, help="task resolution (default: the config's)")
    p.add_argument("--inner-steps", type=int, default=None, help="inner.steps")
    p.add_argument("--outer-steps", type=int, default=200, help="outer.steps")
    p.add_argument("--batch", type=int, default=None, help="outer.batch_size")
    p.add_argument("--lr", type=float, default=None, help="outer.lr (θ)")
    p.add_argument("--param", default=None, choices=["linear", "log"], help="inner.lr_param")
    p.add_argument("--rate-lr", type=float, default=None, help="outer.inner_lr_lr")
    p.add_argument("--init", type=float, default=None, help="inner.lr_init")
    p.add_argument("--order", default=None, choices=["first", "second"], help="inner.order")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--print-every", type=int, default=20)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    base = resolved_config(config_paths(a), data_overrides(a))
    task = base.all[a.experiment]["task"]["name"]
    inner = {k: v for k, v in dict(steps=a.inner_steps, lr_param=a.param, lr_init=a.init, order=a.order).items()
             if v is not None}
    outer = {k: v for k, v in dict(steps=a.outer_steps, batch_size=a.batch, lr=a.lr, inner_lr_lr=a.rate_lr).items()
             if v is not None}
    overrides = deep_merge(data_overrides(a), {"experiments": {a.experiment: {"inner": inner, "outer": outer}}})
    if a.resolution:
        overrides["tasks"] = {task: {"resolution": a.resolution}}
    resolved = resolved_config(config_paths(a), overrides)
    spec = copy.deepcopy(resolved.all[a.experiment])
    spec["outer"].update(validate_every=0, checkpoint_every=spec["outer"]["steps"])  # no curve: rates only
    data = store_dir(resolved, spec["task"]["resolution"], a.data)
    print(f"{a.experiment} ({describe(spec)}), rates {spec['inner']['lr_scheme']} in {spec['inner']['lr_param']} "
          f"space, init {spec['inner']['lr_init']}, rate lr {spec['outer']['inner_lr_lr']}, θ lr {spec['outer']['lr']}; "
          f"data {data}", flush=True)
    rows, *_ = train_meta(spec, data)
    for row in rows:
        if row["step"] % a.print_every == 0 or row["step"] == 1:
            print(" ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
    if a.out:
        pd.DataFrame(rows).to_csv(a.out, index=False)


if __name__ == "__main__":
    main()
