"""Issue 23 probe: centre inpainting at 32² on the sample faces, the quick configuration's
Meta (SIREN 4 × 64, every weight adapted) against Meta-FiLM (the same SIREN shared, a latent
of 64 or 256 mapped linearly to shift modulations, only the latent adapted), same inner steps,
same outer budget and settings (config/quick.yaml's ``meta_center_m<steps>``).

Scores the *tuning* split (held-out training faces, measurements seed + 2000), never the
validation faces; each model keeps its last step (no selection on the scored images). Prints
the mean PSNR of each and the paired FiLM − Meta differences (``metainv.stats.paired_bootstrap``).

    python benchmarks/film_probe.py [--steps 3] [--outer-steps 300] [--latents 64 256]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import torch

from metainv.config import load_config, resolve_experiment
from metainv.data.sample import prepare_sample
from metainv.data.store import load_split, split_tuning, to_tensor
from metainv.meta.maml import adapt, adapted_count
from metainv.metrics import psnr_torch
from metainv.recon import TUNING_SEED_OFFSET, measure
from metainv.metamodel import load_meta_model as load_model, solver_parts
from metainv.stages.meta_train import meta_train
from metainv.stats import paired_bootstrap

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


def tuning_psnr(spec: dict, model_path: Path, store: Path) -> tuple[torch.Tensor, int]:
    """Per-image PSNR on the tuning split (Algorithm 1, evaluation solver) and the number of
    scalars the inner loop adapts per image."""
    _, net, rates = load_model(model_path, CPU)
    train = load_split(store, "train")
    _, tuning = split_tuning(len(train), int(spec["tuning"]))
    x = to_tensor(train[tuning], CPU)
    op, y = measure(spec, x, torch.Generator().manual_seed(int(spec["seed"]) + TUNING_SEED_OFFSET))
    _, solver, eval_solver = solver_parts(spec, CPU)
    out = adapt(net, rates, y, op, solver, spec["inner"]["steps"], track_meta_gradient=False,
                final_solver=eval_solver, reduction=spec["inner"]["loss_reduction"]).output
    return psnr_torch(out.detach(), x), adapted_count(net, rates.adapted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="inner steps m (quick meta_center_m<m>)")
    parser.add_argument("--outer-steps", type=int, default=300)
    parser.add_argument("--latents", type=int, nargs="+", default=[64, 256])
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(ROOT / "config/config.yaml", ROOT / "config/quick.yaml")
    base = resolve_experiment(config, f"meta_center_m{args.steps}")
    base["outer"].update(steps=args.outer_steps, keep="last", validate_every=0,
                         checkpoint_every=max(args.outer_steps, 1))
    specs = {"meta": base}
    for d in args.latents:
        spec = copy.deepcopy(base)
        spec["id"] = f"film_{d}"
        spec["siren"]["modulation"] = {"kind": "shift", "latent_dim": d}
        spec["inner"]["adapt"] = "latent"
        specs[spec["id"]] = spec
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = tmp / "store"
        prepare_sample(store, base["task"]["resolution"], n_val=config["data"]["n_val"])
        scores = {}
        for name, spec in specs.items():
            start = time.time()
            run = tmp / name  # one folder per model: meta_train keeps checkpoint.pt beside model.pt
            run.mkdir()
            meta_train(spec, store, run / "model.pt", run / "log.csv", CPU, progress=False)
            scores[name], count = tuning_psnr(spec, run / "model.pt", store)
            print(f"{name}: {scores[name].mean():.2f} ± {scores[name].std():.2f} dB on {len(scores[name])} "
                  f"tuning faces, {count} adapted scalars/image, {time.time() - start:.0f} s", flush=True)
    for name in specs:
        if name != "meta":
            c = paired_bootstrap(scores[name].numpy(), scores["meta"].numpy())
            print(f"{name} − meta: {c.mean_diff:+.2f} dB [{c.ci_low:+.2f}, {c.ci_high:+.2f}], "
                  f"FiLM better on {c.frac_a_wins:.0%} ({c.verdict})")


if __name__ == "__main__":
    main()
