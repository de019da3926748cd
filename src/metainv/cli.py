"""``metainv <command>``: the one entry point every workflow rule calls.

Each command runs one stage (rule ``meta_train`` → ``metainv meta-train`` →
:func:`metainv.stages.meta_train.meta_train`) and does nothing but parse its flags and call the
stage. Specs (an experiment, a table, a figure, the denoiser) arrive as JSON on the command
line (``--spec``), written by the Snakefile from the resolved configuration, or as ``@path`` to
a JSON/YAML file; an experiment spec written by hand gets the schema defaults filled in by
:mod:`metainv.config`, exactly as the workflow's do.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Callable

import yaml

from metainv import __version__

log = logging.getLogger("metainv")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each flag's help (not for required flags and switches);
    descriptions printed as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0:
            return action.help or ""
        return super()._get_help_string(action)


def _read_spec(text: str) -> dict:
    """A JSON object, or ``@file`` holding JSON or YAML."""
    if text.startswith("@"):
        return yaml.safe_load(Path(text[1:]).read_text())
    return json.loads(text)


def _experiment(text: str) -> dict:
    from metainv.config import normalise_spec

    return normalise_spec(_read_spec(text))


def _pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=PATH, got {item!r}")
        out[key] = value
    return out


def _device(name: str, spec: dict):
    from metainv.device import resolve_device

    return resolve_device(name, tf32=spec.get("tf32", False))


# -- commands: parse, call one stage ----------------------------------------------------------
def cmd_prepare_sample(a: argparse.Namespace) -> None:
    from metainv.data.sample import prepare_sample

    path = prepare_sample(a.out, a.resolution, n_val=a.n_val, seed=a.seed,
                          crops_per_portrait=a.crops, n_train=a.n_train)
    log.info("wrote %s", path)


def cmd_meta_train(a: argparse.Namespace) -> None:
    from metainv.stages.meta_train import meta_train

    spec = _experiment(a.spec)
    meta_train(spec, a.data, a.model, a.log, _device(a.device, spec), progress=not a.no_progress,
               denoiser_path=a.denoiser, solver_params_path=a.solver_params, curve_path=a.curve)


def cmd_reconstruct_meta(a: argparse.Namespace) -> None:
    from metainv.stages.reconstruct_meta import reconstruct_meta

    spec = _experiment(a.spec)
    reconstruct_meta(spec, a.model, a.data, a.out, _device(a.device, spec), denoiser_path=a.denoiser)


def cmd_train_denoiser(a: argparse.Namespace) -> None:
    from metainv.config import normalise_denoiser_spec
    from metainv.stages.train_denoiser import train_denoiser

    spec = normalise_denoiser_spec(_read_spec(a.spec))
    train_denoiser(spec, a.data, a.model, a.log, a.eval, _device(a.device, spec),
                   progress=not a.no_progress, curve_path=a.curve)


def cmd_tune_classical(a: argparse.Namespace) -> None:
    from metainv.stages.tune_classical import tune_classical

    spec = _experiment(a.spec)
    tune_classical(spec, a.denoiser, a.data, a.table, a.params, _device(a.device, spec))


def cmd_solve_classical(a: argparse.Namespace) -> None:
    from metainv.stages.solve_classical import solve_classical

    spec = _experiment(a.spec)
    solve_classical(spec, a.denoiser, a.params, a.data, a.out, _device(a.device, spec))


def cmd_train_unet(a: argparse.Namespace) -> None:
    from metainv.stages.train_unet import train_unet

    spec = _experiment(a.spec)
    train_unet(spec, a.data, a.model, a.log, _device(a.device, spec), progress=not a.no_progress,
               curve_path=a.curve)


def cmd_train_unrolled(a: argparse.Namespace) -> None:
    from metainv.stages.train_unrolled import train_unrolled

    spec = _experiment(a.spec)
    train_unrolled(spec, a.data, a.denoiser, a.params, a.model, a.log, _device(a.device, spec),
                   progress=not a.no_progress, curve_path=a.curve)


def cmd_reconstruct_learned(a: argparse.Namespace) -> None:
    from metainv.stages.reconstruct_learned import reconstruct_learned

    spec = _experiment(a.spec)
    reconstruct_learned(spec, a.model, a.data, a.out, _device(a.device, spec))
def cmd_interpolate(a: argparse.Namespace) -> None:
    from metainv.stages.interpolate import interpolate

    interpolate(_experiment(a.spec), a.data, a.out)


def cmd_claims(a: argparse.Namespace) -> None:
    from metainv.stages.claims import claims

    claims(_read_spec(a.spec), _pairs(a.metrics), a.csv, a.md, a.seed)


def cmd_evaluate(a: argparse.Namespace) -> None:
    from metainv.stages.evaluate import evaluate

    evaluate(a.recon, a.data, a.out, a.lpips)


def cmd_table(a: argparse.Namespace) -> None:
    from metainv.stages.report import table

    table(a.number, _read_spec(a.spec), _pairs(a.metrics), a.csv, a.md, a.tex)


def cmd_figure(a: argparse.Namespace) -> None:
    from metainv.stages.report import figure

    figure(_read_spec(a.spec), a.data, _pairs(a.recon), _pairs(a.metrics), a.out)


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="metainv", description=__doc__, formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=f"metainv {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (None: torch's default)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help, formatter_class=_Formatter)
        sp.set_defaults(func=fn)
        return sp

    def device(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda[:N]")

    def progress(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")

    from metainv.data.commands import add_data_commands

    add_data_commands(sub)  # download-celeba, prepare (CelebA or an image folder)
    for parser in sub.choices.values():
        parser.formatter_class = _Formatter

    sp = add("prepare-sample", cmd_prepare_sample, "build the embedded sample dataset store")
    sp.add_argument("--out", required=True, help="store folder (data/processed/sample/<res>)")
    sp.add_argument("--resolution", type=int, required=True, help="image side in pixels")
    sp.add_argument("--n-val", type=int, default=20, help="validation images")
    sp.add_argument("--n-train", type=int, default=None, help="training images (None: all the rest)")
    sp.add_argument("--seed", type=int, default=0, help="seed of the split and the crops")
    sp.add_argument("--crops", type=int, default=20, help="jittered face crops per portrait")

    experiment = "experiment spec (JSON or @file): resolved by the workflow, or by hand with the " \
                 "keys that differ from the schema defaults plus id and the task block"
    sp = add("meta-train", cmd_meta_train, "meta-train a SIREN initialisation (Algorithm 2; resumable)")
    sp.add_argument("--spec", required=True, help=experiment)
    sp.add_argument("--data", required=True, help="store folder (train.npy, val.npy)")
    sp.add_argument("--model", required=True, help="model.pt to write")
    sp.add_argument("--log", required=True, help="train_log.csv to write")
    sp.add_argument("--curve", required=True, help="train_curve.png to write")
    sp.add_argument("--denoiser", default=None, help="DnCNN model.pt (solver kind red)")
    sp.add_argument("--solver-params", default=None,
                    help="params.json of a tuned classical solver (solver kind red with params_from)")
    device(sp)
    progress(sp)

    sp = add("reconstruct-meta", cmd_reconstruct_meta,
             "reconstruct the validation set with a trained initialisation (Algorithm 1)")
    sp.add_argument("--spec", required=True, help=experiment)
    sp.add_argument("--data", required=True, help="store folder (val.npy)")
    sp.add_argument("--model", required=True, help="model.pt written by meta-train")
    sp.add_argument("--out", required=True, help="recon.npz to write")
    sp.add_argument("--denoiser", default=None, help="DnCNN model.pt (solver kind red)")
    device(sp)

    sp = add("train-denoiser", cmd_train_denoiser, "train the DnCNN prior at one noise level (resumable)")
    sp.add_argument("--spec", required=True,
                    help="denoiser spec (config.denoiser + seed, tf32): JSON or @file; defaults filled in")
    sp.add_argument("--data", required=True, help="store folder (train.npy)")
    sp.add_argument("--model", required=True, help="model.pt to write")
    sp.add_argument("--log", required=True, help="train_log.csv to write")
    sp.add_argument("--curve", required=True, help="train_curve.png to write")
    sp.add_argument("--eval", required=True, help="eval.json to write: held-out PSNR, noisy vs denoised")
    device(sp)
    progress(sp)

    sp = add("tune-classical", cmd_tune_classical,
             "grid-search a classical solver's parameters on the tuning split (data.tuning)")
    sp.add_argument("--spec", required=True, help=experiment + " (method red | hqs)")
    sp.add_argument("--data", required=True, help="store folder (train.npy)")
    sp.add_argument("--denoiser", required=True, help="DnCNN model.pt")
    sp.add_argument("--table", required=True, help="tuning.csv to write: one row per combination")
    sp.add_argument("--params", required=True, help="params.json to write: the chosen parameters")
    device(sp)

    sp = add("solve-classical", cmd_solve_classical,
             "reconstruct the validation set with a classical solver (RED, HQS)")
    sp.add_argument("--spec", required=True, help=experiment + " (method red | hqs)")
    sp.add_argument("--data", required=True, help="store folder (val.npy)")
    sp.add_argument("--denoiser", required=True, help="DnCNN model.pt")
    sp.add_argument("--params", required=True, help="params.json written by tune-classical")
    sp.add_argument("--out", required=True, help="recon.npz to write")
    device(sp)

    for name, fn, help in (("train-unet", cmd_train_unet,
                            "train the UNet baseline: zero-filled measurement + mask → image, L2 (resumable)"),
                           ("train-unrolled", cmd_train_unrolled,
                            "fine-tune the DnCNN inside RED/HQS unrolled for a fixed number of iterations, "
                            "L2 (resumable)")):
        sp = add(name, fn, help)
        sp.add_argument("--spec", required=True, help=experiment + (" (method unet)" if name == "train-unet"
                                                                    else " (method unrolled)"))
        sp.add_argument("--data", required=True, help="store folder (train.npy, val.npy)")
        if name == "train-unrolled":
            sp.add_argument("--denoiser", required=True, help="pretrained DnCNN model.pt")
            sp.add_argument("--params", required=True, help="params.json of the tuned classical solver")
        sp.add_argument("--model", required=True, help="model.pt to write")
        sp.add_argument("--log", required=True, help="train_log.csv to write")
        sp.add_argument("--curve", required=True, help="train_curve.png to write")
        device(sp)
        progress(sp)

    sp = add("reconstruct-learned", cmd_reconstruct_learned,
             "reconstruct the validation set with a trained UNet or unrolled solver")
    sp.add_argument("--spec", required=True, help=experiment + " (method unet | unrolled)")
    sp.add_argument("--data", required=True, help="store folder (val.npy)")
    sp.add_argument("--model", required=True, help="model.pt written by train-unet / train-unrolled")
    sp.add_argument("--out", required=True, help="recon.npz to write")
    device(sp)
    sp = add("interpolate", cmd_interpolate,
             "reconstruct the validation set by linear interpolation of the observed pixels")
    sp.add_argument("--spec", required=True, help=experiment + " (method interp, a masking task)")
    sp.add_argument("--data", required=True, help="store folder (val.npy)")
    sp.add_argument("--out", required=True, help="recon.npz to write")

    sp = add("evaluate", cmd_evaluate, "per-image MSE / PSNR / SSIM of a reconstruction and of its input")
    sp.add_argument("--recon", required=True, help="recon.npz")
    sp.add_argument("--data", required=True, help="store folder (val.npy: the ground truth)")
    sp.add_argument("--out", required=True, help="metrics.csv to write")
    sp.add_argument("--lpips", nargs="*", default=[], choices=["alex", "vgg"],
                    help="LPIPS trunks to score with (columns LPIPS_<net>, input_LPIPS_<net>)")

    sp = add("table", cmd_table, "build a paper table from per-image metrics")
    sp.add_argument("--number", required=True, help="table number (key of config.tables)")
    sp.add_argument("--spec", required=True, help="table spec (config.tables.<number>): JSON or @file")
    sp.add_argument("--metrics", nargs="*", default=[], help="EXPERIMENT=metrics.csv ... (experiments that ran)")
    sp.add_argument("--csv", required=True, help="long-format CSV to write")
    sp.add_argument("--md", required=True, help="markdown table to write")
    sp.add_argument("--tex", default=None, help="LaTeX (booktabs) table to write")

    sp = add("figure", cmd_figure, "sample reconstructions side by side")
    sp.add_argument("--spec", required=True, help="figure spec (config.figures.<number>): JSON or @file")
    sp.add_argument("--data", required=True, help="store folder (val.npy: the ground truth)")
    sp.add_argument("--recon", nargs="+", required=True,
                    help="EXPERIMENT=recon.npz ... (placed by the spec's experiments layout)")
    sp.add_argument("--metrics", nargs="+", required=True,
                    help="EXPERIMENT=metrics.csv ... (PSNR under each image)")
    sp.add_argument("--out", required=True, help="PNG to write")
    sp = add("claims", cmd_claims, "check the paper's claims: paired bootstrap comparisons of experiments")
    sp.add_argument("--spec", required=True,
                    help="comparisons (metainv.config.claims of the config): JSON list or @file")
    sp.add_argument("--metrics", nargs="*", default=[], help="EXPERIMENT=metrics.csv ... (experiments that ran)")
    sp.add_argument("--csv", required=True, help="claims.csv to write")
    sp.add_argument("--md", required=True, help="claims.md to write")
    sp.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    return p


def main(argv: list[str] | None = None) -> int:
    from metainv.errors import MetainvError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        args.func(args)
    except MetainvError as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
