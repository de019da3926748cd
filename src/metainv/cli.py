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
import dataclasses
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from metainv import __version__
from metainv.errors import MetainvError

log = logging.getLogger("metainv")


class UsageError(MetainvError):
    """A flag's value cannot be used (malformed JSON, a missing file, a bad KEY=PATH pair);
    the message names the flag."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each flag's help (not for required flags and switches);
    descriptions printed as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0:
            return action.help or ""
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 1, like every other input error."""

    def error(self, message: str):
        self.exit(1, f"{self.prog}: error: {message}\n")


# -- flag values → stage arguments -----------------------------------------------------------
def _read_spec(text: str, flag: str = "--spec") -> Any:
    """A JSON value, or ``@file`` holding JSON or YAML."""
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            return yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"{flag} {text}: no such file") from None
        except (OSError, yaml.YAMLError) as e:
            raise UsageError(f"{flag} {text}: not readable as JSON or YAML: "
                             f"{' '.join(str(e).split())}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{flag}: not valid JSON ({e}); pass a JSON object or @file") from None


def _object(value: Any, flag: str) -> dict:
    if not isinstance(value, Mapping):
        raise UsageError(f"{flag}: expected a JSON object, got {type(value).__name__}")
    return dict(value)


def _experiment(text: str, args: Mapping) -> dict:
    from metainv.config import normalise_spec

    return normalise_spec(_object(_read_spec(text), "--spec"))


def _denoiser_spec(text: str, args: Mapping) -> dict:
    from metainv.config import normalise_denoiser_spec

    return normalise_denoiser_spec(_object(_read_spec(text), "--spec"))


def _raw_spec(text: str, args: Mapping) -> Any:
    return _read_spec(text)


def _pairs(flag: str) -> Callable[[list[str], Mapping], dict[str, str]]:
    def convert(items: list[str], args: Mapping) -> dict[str, str]:
        out = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not key or not value:
                raise UsageError(f"{flag}: expected KEY=PATH, got {item!r}")
            out[key] = value
        return out

    return convert


def _device(name: str, args: Mapping):
    from metainv.device import resolve_device

    return resolve_device(name, tf32=bool(args.get("spec", {}).get("tf32", False)))


# -- the table -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Flag:
    """One flag: its option string, the stage argument it fills (``dest``), its help, an
    optional ``convert(value, converted_so_far)`` and argparse options (required, default...)."""

    option: str
    dest: str
    help: str
    convert: Callable[[Any, Mapping], Any] | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def but(self, **changes: Any) -> "Flag":
        """This flag with another help (or dest, options)."""
        return dataclasses.replace(self, **changes)


def flag(option: str, dest: str, help: str, convert=None, **options: Any) -> Flag:
    return Flag(option, dest, help, convert, options)


def required(option: str, dest: str, help: str, convert=None, **options: Any) -> Flag:
    return Flag(option, dest, help, convert, {"required": True, **options})


EXPERIMENT_HELP = ("experiment spec (JSON or @file): resolved by the workflow, or by hand with the keys that "
                   "differ from the schema defaults plus id and the task block")
# flags shared by several commands, defined once (a command may give one its own help)
SPEC = required("--spec", "spec", EXPERIMENT_HELP, _experiment)
DATA = required("--data", "data_dir", "store folder (train.npy, val.npy)")
DEVICE = flag("--device", "device", "auto (CUDA when present) | cpu | cuda[:N]", _device, default="auto")
NO_PROGRESS = flag("--no-progress", "progress", "no progress bar (logs only)", lambda v, a: not v,
                   action="store_true")
MODEL_OUT = required("--model", "model_path", "model.pt to write")
LOG = required("--log", "log_path", "train_log.csv to write")
CURVE = required("--curve", "curve_path", "train_curve.png to write")
DENOISER = required("--denoiser", "denoiser_path", "DnCNN model.pt")
METRICS = flag("--metrics", "metrics", "EXPERIMENT=metrics.csv ... (experiments that ran)", _pairs("--metrics"),
               nargs="*", default=[])
CSV = required("--csv", "out_csv", "long-format CSV to write")
MD = required("--md", "out_md", "markdown table to write")
TRAINING = (DEVICE, NO_PROGRESS)
LPIPS = flag("--lpips", "lpips_nets", "LPIPS trunks to score with (columns LPIPS_<net>, input_LPIPS_<net>)",
             nargs="*", default=[], choices=["alex", "vgg"])


@dataclasses.dataclass(frozen=True)
class Command:
    """A CLI command: the stage it runs (``module:function``, imported only when it runs, so
    ``metainv --help`` does not load torch), its help and its flags."""

    stage: str
    help: str
    flags: tuple[Flag, ...]


COMMANDS: dict[str, Command] = {
    "prepare-sample": Command("metainv.data.sample:prepare_sample", "build the embedded sample dataset store", (
        required("--out", "out_dir", "store folder (data/processed/sample/<res>)"),
        required("--resolution", "resolution", "image side in pixels", type=int),
        flag("--n-val", "n_val", "validation images", type=int, default=20),
        flag("--n-train", "n_train", "training images (None: all the rest)", type=int, default=None),
        flag("--seed", "seed", "seed of the split and the crops", type=int, default=0),
        flag("--crops", "crops_per_portrait", "jittered face crops per portrait", type=int, default=20),
    )),
    "meta-train": Command("metainv.stages.meta_train:meta_train",
                          "meta-train a SIREN initialisation (Algorithm 2; resumable)", (
        SPEC, DATA, MODEL_OUT, LOG, CURVE,
        flag("--denoiser", "denoiser_path", "DnCNN model.pt (solver kind red)"),
        flag("--solver-params", "solver_params_path",
             "params.json of a tuned classical solver (solver kind red with params_from)"),
        *TRAINING,
    )),
    "train-denoiser": Command("metainv.stages.train_denoiser:train_denoiser",
                              "train the DnCNN prior at one noise level (resumable)", (
        SPEC.but(help="denoiser spec (config.denoiser + seed, tf32): JSON or @file; defaults filled in",
                 convert=_denoiser_spec),
        DATA.but(help="store folder (train.npy)"), MODEL_OUT, LOG, CURVE,
        required("--eval", "eval_path", "eval.json to write: held-out PSNR, noisy vs denoised"),
        *TRAINING,
    )),
    "tune-classical": Command("metainv.stages.tune_classical:tune_classical",
                              "grid-search a classical solver's parameters on the tuning split (data.tuning)", (
        SPEC.but(help=EXPERIMENT_HELP + " (method red | hqs | tv)"), DATA.but(help="store folder (train.npy)"),
        flag("--denoiser", "denoiser_path", "DnCNN model.pt (methods red, hqs; tv has none)"),
        required("--table", "table_path", "tuning.csv to write: one row per combination"),
        required("--params", "params_path", "params.json to write: the chosen parameters"),
        DEVICE,
    )),
    "train-unet": Command("metainv.stages.train_unet:train_unet",
                          "train the UNet baseline: zero-filled measurement + mask → image, L2 (resumable)", (
        SPEC.but(help=EXPERIMENT_HELP + " (method unet)"), DATA, MODEL_OUT, LOG, CURVE, *TRAINING,
    )),
    "train-unrolled": Command("metainv.stages.train_unrolled:train_unrolled",
                              "fine-tune the DnCNN inside RED/HQS unrolled for a fixed number of iterations, "
                              "L2 (resumable)", (
        SPEC.but(help=EXPERIMENT_HELP + " (method unrolled)"), DATA,
        DENOISER.but(help="pretrained DnCNN model.pt"),
        required("--params", "params_path", "params.json of the tuned classical solver"),
        MODEL_OUT, LOG, CURVE, *TRAINING,
    )),
    "reconstruct": Command("metainv.stages.reconstruct:reconstruct",
                           "reconstruct the validation set with any method (metainv.reconstructors): Meta "
                           "(Algorithm 1), RED/HQS, TV, UNet, unrolled, interpolation", (
        SPEC, DATA.but(help="store folder (val.npy)"),
        required("--out", "out_path", "recon.npz to write"),
        flag("--model", "model_path", "model.pt (methods meta, unet, unrolled)"),
        flag("--params", "params_path", "params.json written by tune-classical (methods red, hqs, tv)"),
        flag("--denoiser", "denoiser_path", "DnCNN model.pt (methods red, hqs; meta with solver kind red)"),
        DEVICE,
        flag("--metrics", "metrics_path", "metrics.csv to write as well: per-image scores, as `evaluate` writes"),
        LPIPS.but(help="LPIPS trunks to score with (with --metrics)"),
    )),
    "evaluate": Command("metainv.stages.evaluate:evaluate",
                        "per-image MSE / PSNR / SSIM of a reconstruction and of its input", (
        required("--recon", "recon_npz", "recon.npz"),
        DATA.but(help="store folder (val.npy: the ground truth)"),
        required("--out", "out_csv", "metrics.csv to write"),
        LPIPS,
    )),
    "table": Command("metainv.stages.report:table", "build a paper table from per-image metrics", (
        required("--number", "number", "table number (key of config.tables)"),
        SPEC.but(help="table spec (config.tables.<number>): JSON or @file", convert=_raw_spec),
        METRICS, CSV, MD,
        flag("--tex", "out_tex", "LaTeX (booktabs) table to write"),
    )),
    "figure": Command("metainv.stages.report:figure", "sample reconstructions side by side", (
        SPEC.but(help="figure spec (config.figures.<number>): JSON or @file", convert=_raw_spec),
        DATA.but(help="store folder (val.npy: the ground truth)"),
        required("--recon", "recons", "EXPERIMENT=recon.npz ... (placed by the spec's experiments layout)",
                 _pairs("--recon"), nargs="+"),
        METRICS.but(help="EXPERIMENT=metrics.csv ... (PSNR under each image)", options={"required": True, "nargs": "+"}),
        required("--out", "out_png", "PNG to write"),
    )),
    "step-curve": Command("metainv.stages.step_curve:step_curve",
                          "PSNR against the number of inner steps and seconds per image: meta models and "
                          "classical solvers on the validation split (config.step_curves; not in the paper)", (
        SPEC.but(help="step curve spec (metainv.config.step_curve_spec of the config): JSON or @file",
                 convert=_raw_spec),
        DATA.but(help="store folder (val.npy)"),
        required("--models", "models", "LABEL=model.pt ... (one per meta curve)", _pairs("--models"), nargs="+"),
        flag("--params", "params", "LABEL=params.json ... (red solvers: the tuned parameters)", _pairs("--params"),
             nargs="*", default=[]),
        flag("--denoiser", "denoiser_path", "DnCNN model.pt (red solvers; meta experiments with solver kind red)"),
        CSV.but(dest="out_csv", help="step_curve.csv to write"),
        required("--png", "out_png", "figure to write"),
        DEVICE,
    )),
    "capacity": Command("metainv.stages.capacity:capacity",
                        "scores against the values the inner loop adapts per image, paired against "
                        "references (config.capacity_studies; not in the paper)", (
        SPEC.but(help="capacity study spec (metainv.config.capacity_spec of the config): JSON or @file",
                 convert=_raw_spec),
        METRICS.but(help="EXPERIMENT=metrics.csv ... (every point and reference)",
                    options={"required": True, "nargs": "+"}),
        CSV.but(help="<name>.csv to write"), MD.but(help="<name>.md to write"),
        required("--png", "out_png", "figure to write"),
        flag("--seed", "seed", "bootstrap seed", type=int, default=0),
    )),
    "claims": Command("metainv.stages.claims:claims",
                      "check the paper's claims: paired bootstrap comparisons of experiments", (
        SPEC.but(dest="comparisons", help="comparisons (metainv.config.claims of the config): JSON list or @file",
                 convert=_raw_spec),
        METRICS, CSV.but(help="claims.csv to write"), MD.but(help="claims.md to write"),
        flag("--seed", "seed", "bootstrap seed", type=int, default=0),
    )),
}


def _run_stage(command: Command, args: argparse.Namespace) -> None:
    """Convert the flags (in table order, so --device sees the spec) and call the stage."""
    kwargs: dict[str, Any] = {}
    for f in command.flags:
        value = getattr(args, f.dest)
        kwargs[f.dest] = f.convert(value, kwargs) if f.convert is not None else value
    module, _, name = command.stage.partition(":")
    result = getattr(importlib.import_module(module), name)(**kwargs)
    if isinstance(result, Path):
        log.info("wrote %s", result)


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="metainv", description=__doc__, formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=f"metainv {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (None: torch's default)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from metainv.data.commands import add_data_commands

    add_data_commands(sub)  # download-celeba, prepare (CelebA or an image folder)
    for parser in sub.choices.values():
        parser.formatter_class = _Formatter
    for name, command in COMMANDS.items():
        sp = sub.add_parser(name, help=command.help, description=command.help, formatter_class=_Formatter)
        sp.set_defaults(command_spec=command)
        for f in command.flags:
            options = dict(f.options)
            if options.get("action") is None and "choices" not in options:  # --data DATA, not DATA_DIR
                options.setdefault("metavar", f.option.lstrip("-").upper().replace("-", "_"))
            sp.add_argument(f.option, dest=f.dest, help=f.help, **options)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        if getattr(args, "command_spec", None) is not None:
            _run_stage(args.command_spec, args)
        else:
            args.func(args)
    except MetainvError as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
