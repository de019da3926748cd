# Helpers shared by the rule files: config validation, experiment resolution, paths.

import copy
import re
from pathlib import Path
import json
import shlex

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")


def deep_merge(base, override):
    """Recursive dict merge: values of ``override`` win; returns a new dict."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_experiment(eid):
    """One experiment: defaults merged under it, schema defaults filled, task attached."""
    spec = deep_merge(config.get("experiment_defaults", {}), config["experiments"][eid])
    try:
        validate(spec, "../schemas/experiment.schema.yaml")
    except WorkflowError as e:
        raise WorkflowError(f"config.experiments.{eid} is invalid (after experiment_defaults were merged)", e)
    if spec["task"] not in config["tasks"]:
        raise WorkflowError(
            f"config.experiments.{eid}.task: unknown task {spec['task']!r}; "
            f"defined tasks: {sorted(config['tasks'])}"
        )
    spec = copy.deepcopy(spec)
    spec["id"] = eid
    spec["seed"] = config["seed"]
    spec["tf32"] = config["tf32"]
    spec["task"] = {"name": spec["task"], **copy.deepcopy(config["tasks"][spec["task"]])}
    return spec


ALL_EXPERIMENTS = {eid: resolve_experiment(eid) for eid in config["experiments"]}

for _eid, _spec in list(ALL_EXPERIMENTS.items()):
    _src = _spec.get("model_from")
    if _src is None:
        continue
    if _src not in ALL_EXPERIMENTS or "model_from" in ALL_EXPERIMENTS[_src]:
        raise WorkflowError(f"config.experiments.{_eid}.model_from: {_src!r} is not an experiment that trains a model")
    if ALL_EXPERIMENTS[_src]["task"]["name"] != _spec["task"]["name"] or ALL_EXPERIMENTS[_src]["method"] != _spec["method"]:
        raise WorkflowError(f"config.experiments.{_eid}.model_from: {_src!r} has another task or method")
    if _spec["enabled"] and not ALL_EXPERIMENTS[_src]["enabled"]:
        raise WorkflowError(f"config.experiments.{_eid} is enabled but its model_from {_src!r} is not")
    # evaluate the source's model exactly as trained: only `eval` and `enabled` are this experiment's
    ALL_EXPERIMENTS[_eid] = {**copy.deepcopy(ALL_EXPERIMENTS[_src]), "id": _eid, "model_from": _src,
                             "eval": _spec["eval"], "enabled": _spec["enabled"]}

EXPERIMENTS = {eid: spec for eid, spec in ALL_EXPERIMENTS.items() if spec["enabled"]}

for _eid, _spec in EXPERIMENTS.items():
    _solver = _spec.get("solver", {})
    if _spec["method"] != "meta" or _solver.get("kind") != "red":
        continue
    _src = _solver.get("params_from")
    if _src is not None and (_src not in EXPERIMENTS or EXPERIMENTS[_src]["method"] != "red"):
        raise WorkflowError(f"config.experiments.{_eid}.solver.params_from: {_src!r} is not an enabled red experiment")
    if _src is None and not {"lam", "sigma_f"} <= set(_solver.get("params") or {}):
        raise WorkflowError(f"config.experiments.{_eid}.solver: a red solver needs params (lam, sigma_f) or params_from")

for _kind in ("tables", "figures"):
    for _name, _spec in config.get(_kind, {}).items():
        _ids = [r["experiment"] for r in _spec["rows"]] if _kind == "tables" else list(_spec["experiments"].values())
        for _eid in _ids:
            if _eid not in ALL_EXPERIMENTS:
                raise WorkflowError(f"config.{_kind}.{_name}: unknown experiment {_eid!r}")


CLASSICAL_IDS = [eid for eid, spec in EXPERIMENTS.items() if spec["method"] in ("red", "hqs")]


def spec_arg(obj):
    """A spec as one shell-quoted JSON argument."""
    return shlex.quote(json.dumps(obj, sort_keys=True))


def store_dir(resolution):
    """Preprocessed images of the configured data source at one resolution."""
    return f"data/processed/{config['data']['source']}/{resolution}"


def store_files(resolution):
    folder = store_dir(resolution)
    return {"train": f"{folder}/train.npy", "val": f"{folder}/val.npy", "manifest": f"{folder}/manifest.json"}


def exp_dir(eid):
    spec = EXPERIMENTS[eid]
    return f"results/{spec['task']['name']}/{eid}"


def model_path(eid):
    """model.pt an experiment evaluates: its own, or that of ``model_from``."""
    return f"{exp_dir(EXPERIMENTS[eid].get('model_from', eid))}/model.pt"


def trained_ids(method):
    """Experiments of ``method`` that train a model of their own."""
    return [eid for eid in ids_of(method) if "model_from" not in EXPERIMENTS[eid]]


DENOISER_DIR = "results/denoiser/dncnn"


def denoiser_spec():
    """The DnCNN training spec (config.denoiser plus the run-wide seed and precision)."""
    return {**config["denoiser"], "seed": config["seed"], "tf32": config["tf32"]}


DENOISER_MODEL = f"{DENOISER_DIR}/model.pt"


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


def experiment_store(wildcards):
    return store_files(EXPERIMENTS[wildcards.exp]["task"]["resolution"])


def ids_of(method):
    return [eid for eid, spec in EXPERIMENTS.items() if spec["method"] == method]


def id_pattern(ids):
    """Wildcard constraint matching exactly these ids (never-matching when empty)."""
    return "|".join(map(re.escape, ids)) if ids else "(?!)"


def table_experiments(number):
    return [r["experiment"] for r in config["tables"][number]["rows"] if r["experiment"] in EXPERIMENTS]


def lpips_nets(eid):
    """LPIPS trunks asked for by the tables that show this experiment (metric LPIPS_<net>)."""
    return sorted({m.split("_", 1)[1] for t in config.get("tables", {}).values()
                   if any(r.get("experiment") == eid for r in t["rows"])
                   for m in t["metrics"] if m.startswith("LPIPS_")})


def all_targets():
    targets = []
    for number in config.get("tables", {}):
        targets += [f"results/tables/table{number}.csv", f"results/tables/table{number}.md"]
    for number, spec in config.get("figures", {}).items():
        if any(e in EXPERIMENTS for e in spec["experiments"].values()):
            targets.append(f"results/figures/figure{number}.png")
    for eid in trained_ids("meta"):
        targets.append(f"{exp_dir(eid)}/train_curve.png")
    # Every result an experiment shares (DVC) is a target, so one that is missing (deleted, or
    # not pulled) is rebuilt together with what depends on it: Snakemake otherwise skips a
    # missing intermediate file whose consumers are up to date. The data stores are not
    # targets: a clone that pulled results without data (or raw downloads) reruns nothing.
    for eid in EXPERIMENTS:
        targets += [f"{exp_dir(eid)}/recon.npz", f"{exp_dir(eid)}/metrics.csv"]
    for eid in trained_ids("meta"):
        targets += [f"{exp_dir(eid)}/model.pt", f"{exp_dir(eid)}/train_log.csv"]
    classical = CLASSICAL_IDS
    for eid in classical:
        targets += [f"{exp_dir(eid)}/tuning.csv", f"{exp_dir(eid)}/params.json"]
    if classical or any(solver_inputs(eid) for eid in trained_ids("meta")):
        targets += [DENOISER_MODEL, f"{DENOISER_DIR}/eval.json", f"{DENOISER_DIR}/train_curve.png"]
    return targets


def figure_columns(number):
    return {label: eid for label, eid in config["figures"][number]["experiments"].items() if eid in EXPERIMENTS}


def figure_store(wildcards):
    eid = next(iter(figure_columns(wildcards.number).values()))
    return store_files(EXPERIMENTS[eid]["task"]["resolution"])


# -- data -------------------------------------------------------------------------------------
DATA = config["data"]
CELEBA_RAW = "data/raw/celeba"


def _data_flags():
    """Split, crop and decoding flags shared by the CelebA and folder rules."""
    n_train = DATA["n_train"] if DATA["n_train"] is not None else "all"
    return (f"--n-train {n_train} --n-val {DATA['n_val']} --seed {config['seed']} "
            f"--crop {DATA['crop']} --on-corrupt {DATA['on_corrupt']}")


if DATA["source"] == "folder" and not DATA["folder"]:
    raise WorkflowError("data.source is 'folder' but data.folder is not set (a folder of JPEG/PNG images)")
