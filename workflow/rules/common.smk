# Paths and input functions shared by the rule files. Configuration resolution (validation,
# defaults, tasks, model_from, cross-checks) is package code: metainv.config, which the CLI and
# the tests call too.

import json
import os
import re
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError

from metainv import config as metainv_config
from metainv.specs.solver_kinds import DENOISING
from metainv.specs.experiment import CLASSICAL_METHODS

try:
    RESOLVED = metainv_config.resolve(
        config
    )  # validates `config` in place, defaults filled in
except metainv_config.ConfigError as e:
    raise WorkflowError(str(e)) from None
ALL_EXPERIMENTS = RESOLVED.all
EXPERIMENTS = RESOLVED.experiments
# classical baselines (tune_classical); those whose prior is the DnCNN (TV has none)
CLASSICAL_IDS = RESOLVED.ids_of(*CLASSICAL_METHODS)
DENOISING_IDS = RESOLVED.ids_of(*DENOISING)
DENOISER_DIR = "results/denoiser/dncnn"
DENOISER_MODEL = f"{DENOISER_DIR}/model.pt"


def job_resources(rule):
    """What one job of ``rule`` asks a scheduler for (config.resources.<rule>). A job that asks
    for a GPU also names the GPU partition ($METAINV_SLURM_GPU_PARTITION, see
    workflow/profiles/slurm), so the partition follows the resources, not a list of rules.
    """
    resources = dict(config["resources"][rule])
    gpu_partition = os.environ.get("METAINV_SLURM_GPU_PARTITION")
    if resources.get("gpu", 0) > 0 and gpu_partition:
        resources["slurm_partition"] = gpu_partition
    return resources


def spec_arg(obj):
    """A spec as one shell-quoted JSON argument."""
    return shlex.quote(json.dumps(obj))


def job_arg(eid):
    """The spec a job of experiment ``eid`` reads (metainv.config.job_spec), as one argument."""
    return spec_arg(metainv_config.job_spec(EXPERIMENTS[eid]))


def store_dir(resolution):
    """Preprocessed images of the configured data source at one resolution."""
    return f"data/processed/{config['data']['source']}/{resolution}"


def store_files(resolution):
    folder = store_dir(resolution)
    return {
        "train": f"{folder}/train.npy",
        "val": f"{folder}/val.npy",
        "manifest": f"{folder}/manifest.json",
    }


def exp_dir(eid):
    return f"results/{EXPERIMENTS[eid]['task']['name']}/{eid}"


def model_path(eid):
    """model.pt an experiment evaluates: its own, or that of ``model_from``."""
    return f"{exp_dir(EXPERIMENTS[eid]['model_from'] or eid)}/model.pt"


def ids_of(method):
    return RESOLVED.ids_of(method)


def trained_ids(method):
    """Experiments of ``method`` that train a model of their own."""
    return RESOLVED.trained_ids(method)


def denoiser_spec():
    """The DnCNN training spec (config.denoiser plus the run-wide seed and precision)."""
    return metainv_config.denoiser_spec(config)


def solver_inputs(eid, with_params=True):
    """The DnCNN (and tuned RED parameters) a red solver inside a meta experiment needs."""
    solver = EXPERIMENTS[eid]["solver"]
    if solver["kind"] != "red":
        return {}
    inputs = {"denoiser": DENOISER_MODEL}
    if with_params and solver.get("params_from"):
        inputs["solver_params"] = f"{exp_dir(solver['params_from'])}/params.json"
    return inputs


def solver_flags(input):
    """--denoiser / --solver-params flags for the inputs :func:`solver_inputs` declared."""
    flags = []
    if "denoiser" in input.keys():
        flags.append(f"--denoiser {input.denoiser}")
    if "solver_params" in input.keys():
        flags.append(f"--solver-params {input.solver_params}")
    return " ".join(flags)


def reconstruct_inputs(wildcards):
    """The store and the files the experiment's method reconstructs from
    (metainv.reconstructors.FILES): a meta / UNet / unrolled model.pt (its own or that of
    model_from), Meta-RED's DnCNN, a classical solver's params.json and DnCNN (RED, HQS; TV
    has none); none for interpolation."""
    eid = wildcards.exp
    method = EXPERIMENTS[eid]["method"]
    inputs = experiment_store(wildcards)
    if method in ("meta", "unet", "unrolled"):
        inputs["model"] = model_path(eid)
    if method == "meta":
        inputs.update(solver_inputs(eid, with_params=False))
    if method in CLASSICAL_METHODS:
        inputs["params"] = f"{exp_dir(eid)}/params.json"
    if method in DENOISING:
        inputs["denoiser"] = DENOISER_MODEL
    return inputs


def tune_inputs(wildcards):
    """The store and, for RED / HQS, the DnCNN a parameter search solves with."""
    inputs = experiment_store(wildcards)
    if EXPERIMENTS[wildcards.exp]["method"] in DENOISING:
        inputs["denoiser"] = DENOISER_MODEL
    return inputs


def denoiser_flag(input):
    """--denoiser for an input function that declared the DnCNN, else nothing."""
    return f"--denoiser {input.denoiser}" if "denoiser" in input.keys() else ""


def reconstruct_flags(input):
    """--model / --params / --denoiser for the inputs reconstruct_inputs declared."""
    return " ".join(
        f"--{key} {input[key]}"
        for key in ("model", "params", "denoiser")
        if key in input.keys()
    )


def experiment_store(wildcards):
    return store_files(EXPERIMENTS[wildcards.exp]["task"]["resolution"])


def id_pattern(ids):
    """Wildcard constraint matching exactly these ids (never-matching when empty)."""
    return "|".join(map(re.escape, ids)) if ids else "(?!)"


def table_experiments(number):
    return metainv_config.table_experiments(RESOLVED, number)


def figure_ids(number):
    return metainv_config.figure_ids(RESOLVED, number)


def figure_store(wildcards):
    eid = figure_ids(wildcards.number)[0]
    return store_files(EXPERIMENTS[eid]["task"]["resolution"])


def claim_comparisons():
    return metainv_config.claims(RESOLVED)


def claim_experiments():
    return metainv_config.claim_experiments(RESOLVED)


def lpips_nets(eid):
    return metainv_config.lpips_nets(RESOLVED, eid)


def unrolled_params(wildcards):
    """params.json of the tuned classical experiment an unrolled solver starts from."""
    return (
        f"{exp_dir(EXPERIMENTS[wildcards.exp]['unrolled']['params_from'])}/params.json"
    )


def step_curve_inputs(wildcards):
    """The store, each meta curve's model.pt (and its DnCNN), each red solver's params.json
    (keys model<i> / params<i>: the i-th curve of the spec; labels may hold any character).
    """
    spec = metainv_config.step_curve_spec(RESOLVED, wildcards.name)
    eids = metainv_config.step_curve_ids(RESOLVED, wildcards.name)
    inputs = store_files(EXPERIMENTS[eids[0]]["task"]["resolution"])
    for i, exp in enumerate(spec["experiments"].values()):
        inputs[f"model{i}"] = model_path(exp["id"])
        inputs.update(solver_inputs(exp["id"], with_params=False))
    for i, solver in enumerate(spec["solvers"].values()):
        if solver["kind"] == "red":
            inputs[f"params{i}"] = f"{exp_dir(solver['params_from'])}/params.json"
            inputs["denoiser"] = DENOISER_MODEL
    return inputs


def step_curve_flags(wildcards, input):
    """--models / --params LABEL=PATH pairs and --denoiser for step_curve_inputs."""
    spec = metainv_config.step_curve_spec(RESOLVED, wildcards.name)
    models = [
        shlex.quote(f"{label}={input[f'model{i}']}")
        for i, label in enumerate(spec["experiments"])
    ]
    params = [
        shlex.quote(f"{label}={input[f'params{i}']}")
        for i, (label, solver) in enumerate(spec["solvers"].items())
        if solver["kind"] == "red"
    ]
    flags = "--models " + " ".join(models)
    if params:
        flags += " --params " + " ".join(params)
    if "denoiser" in input.keys():
        flags += f" --denoiser {input.denoiser}"
    return flags


STEP_CURVES = [
    name
    for name in config.get("step_curves", {})
    if metainv_config.step_curve_ids(RESOLVED, name)
]


CAPACITY_STUDIES = [
    name
    for name in config.get("capacity_studies", {})
    if metainv_config.capacity_ids(RESOLVED, name)
]


def capacity_metrics(wildcards):
    """metrics.csv of every enabled point and reference of a capacity study, by experiment id."""
    return {
        eid: f"{exp_dir(eid)}/metrics.csv"
        for eid in metainv_config.capacity_ids(RESOLVED, wildcards.name)
    }


UNROLLED_IDS = RESOLVED.trained_ids("unrolled")
# experiments that train a model of their own (model.pt, train_log.csv, train_curve.png)
TRAINED_IDS = RESOLVED.trained_ids("meta") + RESOLVED.trained_ids("unet") + UNROLLED_IDS


def all_targets():
    targets = []
    for number in config.get("tables", {}):
        targets += [
            f"results/tables/table{number}.csv",
            f"results/tables/table{number}.md",
            f"results/tables/table{number}.tex",
        ]
    for number in config.get("figures", {}):
        if figure_ids(number):
            targets.append(f"results/figures/figure{number}.png")
    for eid in TRAINED_IDS:
        targets.append(f"{exp_dir(eid)}/train_curve.png")
    if config.get("claims"):
        targets += ["results/claims/claims.csv", "results/claims/claims.md"]
    for name in STEP_CURVES:
        targets += [
            f"results/step_curves/{name}.csv",
            f"results/step_curves/{name}.png",
        ]
    for name in CAPACITY_STUDIES:
        targets += [f"results/capacity/{name}.{ext}" for ext in ("csv", "md", "png")]
    # Every result an experiment shares (DVC) is a target, so one that is missing (deleted, or
    # not pulled) is rebuilt together with what depends on it: Snakemake otherwise skips a
    # missing intermediate file whose consumers are up to date. The data stores are not
    # targets: a clone that pulled results without data (or raw downloads) reruns nothing.
    for eid in EXPERIMENTS:
        targets += [f"{exp_dir(eid)}/recon.npz", f"{exp_dir(eid)}/metrics.csv"]
    for eid in TRAINED_IDS:
        targets += [f"{exp_dir(eid)}/model.pt", f"{exp_dir(eid)}/train_log.csv"]
    for eid in CLASSICAL_IDS:
        targets += [f"{exp_dir(eid)}/tuning.csv", f"{exp_dir(eid)}/params.json"]
    if (
        DENOISING_IDS
        or any(solver_inputs(eid) for eid in trained_ids("meta"))
        or UNROLLED_IDS
    ):
        targets += [
            DENOISER_MODEL,
            f"{DENOISER_DIR}/eval.json",
            f"{DENOISER_DIR}/train_curve.png",
        ]
    return targets
