"""``metainv <command>``: the one entry point every workflow rule calls.

Specs (an experiment, a table, a figure) arrive as JSON on the command line (``--spec``),
written by the Snakefile from the validated configuration, or as ``@path`` to a JSON/YAML
file. Each command does one stage of the pipeline; see ``metainv <command> --help``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Callable

import yaml

log = logging.getLogger("metainv")


def _spec(text: str) -> dict:
    """A JSON object, or ``@file`` holding JSON or YAML."""
    if text.startswith("@"):
        return yaml.safe_load(Path(text[1:]).read_text())
    return json.loads(text)


def _pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=PATH, got {item!r}")
        out[key] = value
    return out


# -- commands -------------------------------------------------------------------------------
def cmd_prepare_sample(a: argparse.Namespace) -> None:
    from metainv.data.sample import prepare_sample

    path = prepare_sample(a.out, a.resolution, n_val=a.n_val, seed=a.seed,
                          crops_per_portrait=a.crops, n_train=a.n_train)
    log.info("wrote %s", path)


def cmd_meta_train(a: argparse.Namespace) -> None:
    from metainv.device import resolve_device
    from metainv.meta.experiment import train_meta
    from metainv.report.figures import plot_training_curve

    spec = _spec(a.spec)
    device = resolve_device(a.device, tf32=spec.get("tf32", False))
    train_meta(spec, a.data, a.model, a.log, device, progress=not a.no_progress,
               denoiser_path=a.denoiser, solver_params_path=a.solver_params)
    plot_training_curve(a.log, a.curve, f"{spec['id']} ({spec['task']['name']})")


def cmd_reconstruct(a: argparse.Namespace) -> None:
    from metainv.device import resolve_device
    from metainv.meta.experiment import reconstruct_meta

    spec = _spec(a.spec)
    reconstruct_meta(spec, a.model, a.data, a.out, resolve_device(a.device, tf32=spec.get("tf32", False)),
                     denoiser_path=a.denoiser)


def cmd_evaluate(a: argparse.Namespace) -> None:
    from metainv.metrics import evaluate_reconstruction

    frame = evaluate_reconstruction(a.recon, a.data, a.lpips)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(a.out, index=False)
    log.info("%s: PSNR %.2f dB (input %.2f dB) over %d images", a.recon, frame.PSNR.mean(),
             frame.input_PSNR.mean(), len(frame))


def cmd_table(a: argparse.Namespace) -> None:
    from metainv.report.tables import write_table

    spec = _spec(a.spec)
    df = write_table(a.number, spec, _pairs(a.metrics), a.csv, a.md)
    log.info("wrote %s (%d rows)", a.md, len(df))


def cmd_figure(a: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    from metainv.data.store import load_split
    from metainv.report.figures import plot_reconstructions

    spec = _spec(a.spec)
    recons, metrics = _pairs(a.recon), _pairs(a.metrics)
    gt = load_split(a.data, "val")[: spec["n_images"]].astype(np.float32) / 255.0
    first = next(iter(recons.values()))
    columns = {"input": np.load(first)["measurement"]}
    psnr = {"input": pd.read_csv(metrics[next(iter(recons))]).input_PSNR.tolist()}
    for label, path in recons.items():
        columns[label] = np.load(path)["recon"]
        psnr[label] = pd.read_csv(metrics[label]).PSNR.tolist()
    plot_reconstructions(gt, columns, psnr, a.out, spec.get("title", ""), spec["n_images"])


def cmd_train_denoiser(a: argparse.Namespace) -> None:
    from metainv.denoiser import train_denoiser
    from metainv.device import resolve_device
    from metainv.report.figures import plot_training_curve

    spec = _spec(a.spec)
    train_denoiser(spec, a.data, a.model, a.log, a.eval, resolve_device(a.device, tf32=spec.get("tf32", False)),
                   progress=not a.no_progress)
    plot_training_curve(a.log, a.curve, f"DnCNN σ={spec['noise_std']}")


def cmd_tune_solver(a: argparse.Namespace) -> None:
    from metainv.device import resolve_device
    from metainv.solvers.tuning import tune_classical

    spec = _spec(a.spec)
    tune_classical(spec, a.denoiser, a.holdout, a.data, a.table, a.params, resolve_device(a.device))


def cmd_solve(a: argparse.Namespace) -> None:
    from metainv.device import resolve_device
    from metainv.solvers.classical import reconstruct_classical

    spec = _spec(a.spec)
    reconstruct_classical(spec, a.denoiser, a.params, a.data, a.out, resolve_device(a.device))


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="metainv", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=fn)
        return sp

    from metainv.data.commands import add_data_commands

    add_data_commands(sub)  # download-celeba, prepare (CelebA or an image folder)

    sp = add("prepare-sample", cmd_prepare_sample, "build the embedded sample dataset store")
    sp.add_argument("--out", required=True, help="store folder (data/processed/sample/<res>)")
    sp.add_argument("--resolution", type=int, required=True)
    sp.add_argument("--n-val", type=int, default=20)
    sp.add_argument("--n-train", type=int, default=None)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--crops", type=int, default=20, help="jittered face crops per portrait")

    for name, fn, help in (("meta-train", cmd_meta_train, "meta-train a SIREN initialisation (Algorithm 2)"),
                           ("reconstruct", cmd_reconstruct, "reconstruct the validation set (Algorithm 1)")):
        sp = add(name, fn, help)
        sp.add_argument("--spec", required=True, help="experiment spec: JSON or @file")
        sp.add_argument("--data", required=True, help="store folder")
        sp.add_argument("--model", required=True, help="model.pt (written by meta-train)")
        sp.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
        sp.add_argument("--denoiser", default=None, help="DnCNN model.pt (red solver)")
        if name == "meta-train":
            sp.add_argument("--solver-params", default=None,
                            help="params.json of a tuned classical solver (red solver)")
            sp.add_argument("--log", required=True, help="train_log.csv")
            sp.add_argument("--curve", required=True, help="train_curve.png")
            sp.add_argument("--no-progress", action="store_true")
        else:
            sp.add_argument("--out", required=True, help="recon.npz")

    sp = add("train-denoiser", cmd_train_denoiser, "train the DnCNN prior at one noise level (resumable)")
    sp.add_argument("--spec", required=True, help="denoiser spec (config.denoiser + seed): JSON or @file")
    sp.add_argument("--data", required=True, help="store folder")
    sp.add_argument("--model", required=True, help="model.pt")
    sp.add_argument("--log", required=True, help="train_log.csv")
    sp.add_argument("--curve", required=True, help="train_curve.png")
    sp.add_argument("--eval", required=True, help="eval.json: held-out PSNR, noisy vs denoised")
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    sp.add_argument("--no-progress", action="store_true")

    sp = add("tune-solver", cmd_tune_solver,
             "grid-search a classical solver's parameters on held-out training images")
    sp.add_argument("--spec", required=True, help="experiment spec (method red|hqs): JSON or @file")
    sp.add_argument("--data", required=True, help="store folder")
    sp.add_argument("--denoiser", required=True, help="DnCNN model.pt")
    sp.add_argument("--holdout", type=int, required=True, help="held-out tail of the training split")
    sp.add_argument("--table", required=True, help="tuning.csv: one row per parameter combination")
    sp.add_argument("--params", required=True, help="params.json: the chosen parameters")
    sp.add_argument("--device", default="auto")

    sp = add("solve", cmd_solve, "reconstruct the validation set with a classical solver (RED, HQS)")
    sp.add_argument("--spec", required=True, help="experiment spec (method red|hqs): JSON or @file")
    sp.add_argument("--data", required=True, help="store folder")
    sp.add_argument("--denoiser", required=True, help="DnCNN model.pt")
    sp.add_argument("--params", required=True, help="params.json from tune-solver")
    sp.add_argument("--out", required=True, help="recon.npz")
    sp.add_argument("--device", default="auto")

    sp = add("evaluate", cmd_evaluate, "per-image metrics of a reconstruction")
    sp.add_argument("--recon", required=True)
    sp.add_argument("--data", required=True)
    sp.add_argument("--out", required=True, help="metrics.csv")
    sp.add_argument("--lpips", nargs="*", default=[], choices=["alex", "vgg"],
                    help="LPIPS trunks to score with (columns LPIPS_<net>)")

    sp = add("table", cmd_table, "build a paper table from per-image metrics")
    sp.add_argument("--number", required=True)
    sp.add_argument("--spec", required=True, help="table spec: JSON or @file")
    sp.add_argument("--metrics", nargs="*", default=[], help="EXPERIMENT=metrics.csv ...")
    sp.add_argument("--csv", required=True)
    sp.add_argument("--md", required=True)

    sp = add("figure", cmd_figure, "sample reconstructions side by side")
    sp.add_argument("--spec", required=True, help="figure spec: JSON or @file")
    sp.add_argument("--data", required=True)
    sp.add_argument("--recon", nargs="+", required=True, help="LABEL=recon.npz ...")
    sp.add_argument("--metrics", nargs="+", required=True, help="LABEL=metrics.csv ...")
    sp.add_argument("--out", required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    from metainv.data.celeba import DownloadError
    from metainv.data.preprocess import ImageReadError
    from metainv.data.store import StoreError
    from metainv.perceptual import LPIPSUnavailable
    from metainv.train import NonFiniteLossError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        args.func(args)
    except (StoreError, NonFiniteLossError, DownloadError, ImageReadError, LPIPSUnavailable) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
