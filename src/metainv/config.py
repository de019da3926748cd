"""Configuration resolution: from ``config/*.yaml`` to the spec of each experiment.

Called by the Snakefile (``workflow/rules/common.smk``), by the CLI (a ``--spec`` written by
hand gets the same defaults) and by the tests, so all three see one set of rules. Every
setting is defined once, on a typed spec (:mod:`metainv.specs`):

1. the top level is validated by :class:`metainv.specs.Config` (defaults filled in; unknown
   keys, out-of-range and non-finite values refused, naming the key);
2. each experiment is typed by its ``method`` (:data:`metainv.specs.METHODS`, default
   ``meta``): the keys of ``experiment_defaults`` that its method has are deep-merged *under*
   ``experiments.<id>``, the result validated with defaults, its task name replaced by the
   task's block (``{"name", "resolution", "operator"}``) and the run-wide ``seed``, ``tf32``
   and ``tuning`` attached;
3. ``model_from: <id>`` makes an experiment evaluate another's trained model: its spec is the
   source's, with only ``id``, ``eval`` and ``enabled`` its own (and it may state nothing else);
4. cross-references are checked — ``solver.params_from`` names an enabled RED experiment,
   a RED solver inside a meta experiment has λ and σ_f, table rows, figure columns and claims
   name experiments, classical baselines share the DnCNN's resolution, a step curve names meta
   experiments of one task and measurement and red solvers with a red experiment's parameters;
5. values that only fail against another value are checked here, at plan time, not in a job
   hours later: ``data.folder`` exists, ``data.n_val``/``n_train`` fit the images available
   (counted for the sample set and a folder, the official partition for CelebA), batch sizes
   and tuning sizes fit the splits they draw from, the observed pixels of
   ``tasks.<t>.operator.observed_range`` and ``eval.observed`` fit the image, a blur kernel
   fits it.

Every failure is a :class:`ConfigError` whose message names the key
(``config.experiments.meta_center_m2.inner.steps: …``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml

from metainv.errors import ConfigError
from metainv.specs import DEFAULT_METHOD, METHODS, Config, Denoiser, validate_model
from metainv.specs.config import Data
from metainv.specs.experiment import CLASSICAL_METHODS, ModelFromExperiment
from metainv.specs.solver_kinds import check_params

#: Keys of a resolved experiment spec that do not come from its method's spec.
RESOLVED_KEYS = ("id", "seed", "tf32", "tuning")
#: Keys a rule does not pass to its job (they change nothing a job computes).
NOT_FOR_JOBS = ("enabled", "description")


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """Recursive dict merge: values of ``override`` win; returns a new dict."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(*paths: str | Path) -> dict:
    """YAML files merged left to right (``snakemake --configfile`` semantics), validated."""
    config: dict = {}
    for path in paths:
        config = deep_merge(config, yaml.safe_load(Path(path).read_text()) or {})
    return validate_config(config)


def validate_config(config: dict) -> dict:
    """The top level, validated and replaced in place by its typed form with defaults
    (:class:`metainv.specs.Config`), and its cross-field checks (data source, task operators)."""
    _validate_top(config)
    return config


def _validate_top(config: dict) -> dict[str, int]:
    """:func:`validate_config`; returns the images available (:func:`available_images`)."""
    typed = validate_model(Config, config, "config")
    _fill_in_place(config, typed.model_dump(mode="json"))
    data = config["data"]
    if data["source"] == "folder" and not data["folder"]:
        raise ConfigError("config.data.folder: data.source is 'folder' but data.folder is not set "
                          "(a folder of JPEG/PNG images)")
    _check_tasks(config["tasks"])
    return _check_data(data)


def _fill_in_place(target: dict, typed: Mapping) -> None:
    """Write the typed values (defaults included) into ``target`` keeping its nested dicts
    (the Snakefile's ``config`` object and callers' references stay valid)."""
    for key, value in typed.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _fill_in_place(target[key], value)
        else:
            target[key] = value


def available_images(data: Mapping) -> dict[str, int]:
    """Images the configured source offers: ``{"pool": n}`` (split by the data rule, sample
    and folder) or ``{"train": n, "val": m}`` (CelebA's official partition)."""
    if data["source"] == "sample":
        from metainv.data.sample import sample_count

        return {"pool": sample_count(data["sample"]["crops_per_portrait"])}
    if data["source"] == "celeba":
        from metainv.data.celeba import PARTITION_SIZES

        return {"train": PARTITION_SIZES["train"], "val": PARTITION_SIZES["valid"]}
    from metainv.data.folder import list_images

    return {"pool": len(list_images(data["folder"]))}


def _check_data(data: Mapping) -> dict[str, int]:
    """``data.folder`` exists and holds images; ``n_val`` (and ``n_train``) fit what is there.
    Returns :func:`available_images` (a folder is listed once)."""
    crops = data["sample"]["crops_per_portrait"]
    where = {"sample": f"the sample set (data.sample.crops_per_portrait = {crops})", "celeba": "CelebA's official partition",
             "folder": f"data.folder {data['folder']!r}"}[data["source"]]
    if data["source"] == "folder":
        folder = Path(data["folder"])
        if not folder.is_dir():
            what = "is not a directory" if folder.exists() else "does not exist"
            raise ConfigError(f"config.data.folder: {str(folder)!r} {what} (relative paths are read "
                              f"from the working directory {str(Path.cwd())!r})")
    try:
        counts = available_images(data)
    except FileNotFoundError as e:
        raise ConfigError(f"config.data.folder: {e}") from None
    n_val, n_train = data["n_val"], data["n_train"]
    if "pool" in counts:
        pool = counts["pool"]
        if n_val >= pool:
            raise ConfigError(f"config.data.n_val: {n_val} validation images, but {where} has {pool} "
                              f"images and at least one must remain for training (n_val ≤ {pool - 1})")
        if n_train is not None and n_val + n_train > pool:
            raise ConfigError(f"config.data.n_train: {n_train} training images after n_val={n_val}, "
                              f"but {where} has {pool} images (n_train ≤ {pool - n_val})")
        return counts
    if n_val > counts["val"]:
        raise ConfigError(f"config.data.n_val: {n_val} validation images, but {where} has "
                          f"{counts['val']} in its valid split")
    if n_train is not None and n_train > counts["train"]:
        raise ConfigError(f"config.data.n_train: {n_train} training images, but {where} has "
                          f"{counts['train']} in its train split")
    return counts


def _check_tasks(tasks: Mapping) -> None:
    """Operator values that must fit the task's image (``resolution``²)."""
    for name, task in tasks.items():
        res, op = task["resolution"], task["operator"]
        key = f"config.tasks.{name}.operator"
        pixels = res * res
        if op["kind"] == "inpaint_random":
            rng = op["observed_range"]
            if rng is None and op["half_probability"] < 1:
                raise ConfigError(f"{key}.observed_range: random inpainting draws the observed pixels "
                                  "per training batch from [lo, hi]; set it")
            if rng is not None:
                lo, hi = rng
                if lo > hi:
                    raise ConfigError(f"{key}.observed_range: [{lo}, {hi}] is not ordered (lo ≤ hi)")
                if hi > pixels:
                    raise ConfigError(f"{key}.observed_range: [{lo}, {hi}] observes more pixels than "
                                      f"a {res}×{res} image has ({pixels})")
        if op["kind"] == "super_resolution" and res % op["factor"]:
            raise ConfigError(f"{key}.factor: {op['factor']} does not divide the {res}×{res} image "
                              f"(config.tasks.{name}.resolution)")
        if op["kind"] == "blur":
            size = op["kernel_size"]
            if size % 2 == 0:
                raise ConfigError(f"{key}.kernel_size: {size} must be odd (the kernel is centred)")
            if size > res:
                raise ConfigError(f"{key}.kernel_size: {size} is larger than the {res}×{res} image "
                                  f"(config.tasks.{name}.resolution)")



def complete_experiment(spec: Mapping, task: Mapping, eid: str = "experiment",
                        seed: int = 0, tf32: bool = False, tuning: int | None = None,
                        resolved: bool = False) -> dict:
    """One experiment block (``task`` still a name) typed by its method and validated with
    defaults, the task's block attached, with the run-wide ``seed``, ``tf32`` and ``tuning``
    (the size of the tuning split; its default when None). A config entry with ``model_from``
    states only its own keys (:class:`ModelFromExperiment`); a ``resolved`` one carries its
    source's spec and is typed by its method like any other."""
    where = f"config.experiments.{eid}"
    spec = dict(spec)
    method = spec.get("method", DEFAULT_METHOD)
    if method not in METHODS:
        raise ConfigError(f"{where}.method: unknown method {method!r}; methods: {', '.join(METHODS)}")
    model = ModelFromExperiment if spec.get("model_from") is not None and not resolved else METHODS[method]
    out = validate_model(model, spec, where).model_dump(mode="json")
    out["id"] = eid
    out["seed"] = int(seed)
    out["tf32"] = bool(tf32)
    out["tuning"] = int(tuning) if tuning is not None else Data.model_fields["tuning"].default
    out["task"] = {"name": out["task"], **copy.deepcopy(dict(task))}
    return out


def normalise_spec(spec: Mapping) -> dict:
    """A resolved experiment spec (task as a block) with any missing defaults filled in.

    What the CLI does with ``--spec``: specs from the Snakefile are already complete and come
    back unchanged; a spec written by hand needs only what differs from the defaults (``id``,
    ``task`` with its operator, and the experiment's own keys).
    """
    spec = dict(spec)
    task = spec.get("task")
    if not isinstance(task, Mapping) or "name" not in task:
        raise ConfigError("spec.task: a resolved spec needs the task block "
                          "({name, resolution, operator}); resolve config files with metainv.config")
    task = dict(task)
    own = {k: v for k, v in spec.items() if k not in RESOLVED_KEYS}
    own["task"] = task.pop("name")
    from metainv.specs.config import Task

    typed_task = validate_model(Task, task, "spec.task")
    seed = spec["seed"] if "seed" in spec else Config.model_fields["seed"].default
    tf32 = spec["tf32"] if "tf32" in spec else Config.model_fields["tf32"].default
    return complete_experiment(own, typed_task.model_dump(mode="json"), str(spec.get("id", "spec")),
                               seed, tf32, spec.get("tuning"), resolved=True)


def normalise_denoiser_spec(spec: Mapping) -> dict:
    """A DnCNN training spec (``config.denoiser`` + ``seed``/``tf32``/``tuning``) with defaults filled."""
    spec = dict(spec)
    extra = {k: spec.pop(k) for k in ("seed", "tf32", "tuning") if k in spec}
    typed = validate_model(Denoiser, spec, "config.denoiser")
    fill = {"seed": Config.model_fields["seed"].default, "tf32": Config.model_fields["tf32"].default,
            "tuning": Data.model_fields["tuning"].default}
    return {**typed.model_dump(mode="json"), **fill, **extra}


def method_defaults(defaults: Mapping, method: str) -> dict:
    """The part of ``experiment_defaults`` that experiments of ``method`` have keys for."""
    fields = METHODS[method].model_fields
    return {k: v for k, v in defaults.items() if k in fields and k != "method"}


def job_spec(spec: Mapping) -> dict:
    """What a rule passes to its job: the resolved spec less what changes no computation
    (``enabled``, ``description``), so editing those reruns nothing."""
    return {k: v for k, v in spec.items() if k not in NOT_FOR_JOBS}


def resolve_experiment(config: Mapping, eid: str) -> dict:
    """One experiment of a validated config: its method's defaults merged under it, task attached."""
    raw = dict(config["experiments"][eid])
    defaults = config.get("experiment_defaults", {})
    method = raw.get("method", defaults.get("method", DEFAULT_METHOD))
    if method not in METHODS:
        raise ConfigError(f"config.experiments.{eid}.method: unknown method {method!r}; "
                          f"methods: {', '.join(METHODS)}")
    if raw.get("model_from") is not None:  # only its evaluation is its own
        merged = deep_merge({"eval": defaults["eval"]} if "eval" in defaults else {}, raw)
    else:
        merged = deep_merge(method_defaults(defaults, method), raw)
    merged["method"] = method
    task = merged.get("task")
    if task is not None and task not in config["tasks"]:
        raise ConfigError(f"config.experiments.{eid}.task: unknown task {task!r}; "
                          f"defined tasks: {sorted(config['tasks'])}")
    return complete_experiment(merged, config["tasks"].get(task, {}), eid, config["seed"], config["tf32"],
                               config["data"]["tuning"])


def _check_experiment_defaults(config: Mapping) -> None:
    """Every key of ``experiment_defaults`` belongs to some method."""
    known = {k for model in METHODS.values() for k in model.model_fields}
    for key in config.get("experiment_defaults", {}):
        if key not in known:
            raise ConfigError(f"config.experiment_defaults.{key}: no experiment method has this key; "
                              f"keys: {', '.join(sorted(known))}")


@dataclass(frozen=True)
class Resolved:
    """A validated configuration and its experiments (``all``: enabled or not)."""

    config: dict
    all: dict[str, dict]

    @property
    def experiments(self) -> dict[str, dict]:
        """Enabled experiments: the ones the workflow runs."""
        return {eid: spec for eid, spec in self.all.items() if spec["enabled"]}

    def ids_of(self, *methods: str) -> list[str]:
        return [eid for eid, spec in self.experiments.items() if spec["method"] in methods]

    def trained_ids(self, method: str) -> list[str]:
        """Enabled experiments of ``method`` that train a model of their own."""
        return [eid for eid in self.ids_of(method) if self.all[eid]["model_from"] is None]


def resolve(config: dict) -> Resolved:
    """Validate ``config`` in place and resolve every experiment; check cross-references."""
    counts = _validate_top(config)
    _check_experiment_defaults(config)
    specs = {eid: resolve_experiment(config, eid) for eid in config["experiments"]}
    specs = _apply_model_from(specs)
    resolved = Resolved(config, specs)
    _check_solver_params(resolved)
    _check_tables_and_figures(config, specs)
    _check_classical_resolution(config, resolved)
    _check_unrolled(resolved)
    _check_tuning_sizes(config, resolved)
    _check_eval_observed(specs)
    _check_data_consistency(specs)
    _check_tuning_leaves_training(config, counts)
    _check_batch_sizes(config, counts, resolved)
    claims(resolved)  # checks the claims' cross-references
    _check_step_curves(resolved)
    _check_capacity_studies(resolved)
    return resolved


def _check_data_consistency(specs: Mapping[str, dict]) -> None:
    """``eval.data_consistency`` is a projection onto the observed pixels: a meta experiment
    with solver kind none on an inpainting task (a mask operator), nothing else."""
    for eid, spec in specs.items():
        if not spec["eval"]["data_consistency"]:
            continue
        key = f"config.experiments.{eid}.eval.data_consistency"
        if spec["method"] != "meta" or spec["solver"]["kind"] != "none":
            raise ConfigError(f"{key}: only for meta experiments with solver kind none (a gd "
                              f"solver keeps the observed pixels with eval_step_size: 1)")
        if not spec["task"]["operator"]["kind"].startswith("inpaint"):
            raise ConfigError(f"{key}: only for inpainting tasks (a mask operator), not "
                              f"{spec['task']['operator']['kind']!r}")


def _check_eval_observed(specs: Mapping[str, dict]) -> None:
    """``eval.observed`` is ``"half"`` or a pixel count that fits the task's image."""
    for eid, spec in specs.items():
        observed = spec["eval"]["observed"]
        if observed is None:
            continue
        key = f"config.experiments.{eid}.eval.observed"
        res = spec["task"]["resolution"]
        if isinstance(observed, str):
            if observed != "half":
                raise ConfigError(f"{key}: {observed!r} is neither 'half' nor a number of pixels")
            continue
        if not 1 <= observed <= res * res:
            raise ConfigError(f"{key}: {observed} observed pixels, but a {res}×{res} image of task "
                              f"{spec['task']['name']!r} has {res * res} (1 ≤ observed ≤ {res * res})")


def _training_images(config: Mapping, counts: Mapping[str, int]) -> int:
    """Images of the training split (before its tuning tail is set aside)."""
    data = config["data"]
    n_train = counts["train"] if "train" in counts else counts["pool"] - data["n_val"]
    return min(n_train, data["n_train"]) if data["n_train"] is not None else n_train


def _check_tuning_leaves_training(config: Mapping, counts: Mapping[str, int]) -> None:
    """The tuning split (the tail of the training split) leaves some images to train on."""
    tuning, n_train = config["data"]["tuning"], _training_images(config, counts)
    if tuning >= n_train:
        raise ConfigError(f"config.data.tuning: {tuning} tuning images, but the training "
                          f"split has {n_train} (tuning ≤ {n_train - 1})")


def _check_batch_sizes(config: Mapping, counts: Mapping[str, int], resolved: "Resolved") -> None:
    """A training batch (drawn with replacement) holds no more images than it draws from:
    the training split less its tuning tail."""
    fit = _training_images(config, counts) - config["data"]["tuning"]
    for eid, spec in resolved.experiments.items():
        if resolved.all[eid]["model_from"] is not None:
            continue
        block = {"meta": "outer", "unet": "train", "unrolled": "train"}.get(spec["method"])
        if block is not None and spec[block]["batch_size"] > fit:
            raise ConfigError(f"config.experiments.{eid}.{block}.batch_size: {spec[block]['batch_size']} images "
                              f"per step, but the training split less its tuning tail holds {fit}")


def _apply_model_from(specs: dict[str, dict]) -> dict[str, dict]:
    out = dict(specs)
    for eid, spec in specs.items():
        src = spec["model_from"]
        if src is None:
            continue
        key = f"config.experiments.{eid}.model_from"
        if src not in specs or specs[src]["model_from"] is not None:
            raise ConfigError(f"{key}: {src!r} is not an experiment that trains a model")
        if specs[src]["task"]["name"] != spec["task"]["name"] or specs[src]["method"] != spec["method"]:
            raise ConfigError(f"{key}: {src!r} has another task or method")
        if spec["enabled"] and not specs[src]["enabled"]:
            raise ConfigError(f"config.experiments.{eid} is enabled but its model_from {src!r} is not")
        # evaluate the source's model exactly as trained: only `eval` and `enabled` are this one's
        out[eid] = {**copy.deepcopy(specs[src]), "id": eid, "model_from": src,
                    "eval": spec["eval"], "enabled": spec["enabled"]}
    return out


def _check_solver_params(resolved: Resolved) -> None:
    enabled = resolved.experiments
    for eid, spec in enabled.items():
        solver = spec["solver"] if spec["method"] == "meta" else {}
        key = f"config.experiments.{eid}.solver"
        if spec["method"] == "meta" and solver.get("params"):
            check_params(solver["kind"], solver["params"], key=f"{key}.params")
        if spec["method"] in CLASSICAL_METHODS:
            classical = spec["classical"]
            check_params(spec["method"], classical["params"], key=f"config.experiments.{eid}.classical.params")
            check_params(spec["method"], classical["tune"]["grid"],
                         key=f"config.experiments.{eid}.classical.tune.grid")
            if spec["method"] == "tv":  # no defaults: λ and ρ are fixed or searched
                check_params("tv", {**classical["params"], **classical["tune"]["grid"]}, complete=True,
                             key=f"config.experiments.{eid}.classical.params (or its tune.grid)")
        if spec["method"] != "meta":
            if spec["eval"].get("inner_steps") is not None:
                raise ConfigError(f"config.experiments.{eid}.eval.inner_steps: only meta experiments "
                                  f"have an inner loop (method {spec['method']!r})")
            continue
        if solver.get("learn") and solver.get("kind") != "red":
            raise ConfigError(f"{key}.learn: only a red solver has parameters to learn "
                              f"(kind {solver.get('kind')!r})")
        if solver.get("kind") != "red":
            continue
        src = solver.get("params_from")
        if src is not None and (src not in enabled or enabled[src]["method"] != "red"):
            raise ConfigError(f"{key}.params_from: {src!r} is not an enabled red experiment")
        if src is None:
            check_params("red", solver.get("params") or {}, key=f"{key}.params", complete=True)


def _check_tables_and_figures(config: Mapping, specs: Mapping[str, dict]) -> None:
    for number, table in config.get("tables", {}).items():
        for i, row in enumerate(table["rows"]):
            if row["experiment"] not in specs:
                raise ConfigError(f"config.tables.{number}.rows[{i}].experiment: unknown experiment "
                                  f"{row['experiment']!r}")
    for number, figure in config.get("figures", {}).items():
        try:
            layout = figure_layout(figure["experiments"])
        except ValueError as e:
            raise ConfigError(f"config.figures.{number}.experiments: {e}") from None
        for row, columns in layout:
            for label, eid in columns.items():
                if eid not in specs:
                    where = f"{row}.{label}" if row else label
                    raise ConfigError(f"config.figures.{number}.experiments.{where}: unknown experiment {eid!r}")


def _check_classical_resolution(config: Mapping, resolved: Resolved) -> None:
    """RED / HQS run the DnCNN at their task's resolution (TV has no DnCNN: exempt)."""
    from metainv.specs.solver_kinds import DENOISING

    res = config["denoiser"]["resolution"]
    for eid in resolved.ids_of(*DENOISING):
        task_res = resolved.all[eid]["task"]["resolution"]
        if task_res != res:
            raise ConfigError(
                f"config.experiments.{eid}: task resolution {task_res} differs from "
                f"config.denoiser.resolution {res}; the DnCNN and its tuning images must come "
                "from the same store")


def _check_tuning_sizes(config: Mapping, resolved: Resolved) -> None:
    """Every choice reads its images from the tuning split: none may ask for more than it holds."""
    tuning = config["data"]["tuning"]
    asks = [("config.denoiser.tuning_images", config["denoiser"]["tuning_images"])]
    for eid, spec in resolved.experiments.items():
        if spec["method"] == "meta" and resolved.all[eid]["model_from"] is None:
            asks.append((f"config.experiments.{eid}.outer.tuning_images", spec["outer"]["tuning_images"]))
        if spec["method"] in CLASSICAL_METHODS:
            asks.append((f"config.experiments.{eid}.classical.tune.images", spec["classical"]["tune"]["images"]))
        if spec["method"] in ("unet", "unrolled"):
            asks.append((f"config.experiments.{eid}.train.tuning_images", spec["train"]["tuning_images"]))
    for key, n in asks:
        if n > tuning:
            raise ConfigError(f"{key}: {n} images, but the tuning split (config.data.tuning) holds {tuning}")


def table_experiments(resolved: Resolved, number: str) -> list[str]:
    """Enabled experiments of one table, in row order."""
    return [r["experiment"] for r in resolved.config["tables"][number]["rows"]
            if r["experiment"] in resolved.experiments]


def figure_layout(experiments: Mapping[str, str | Mapping[str, str]]) -> list[tuple[str, dict[str, str]]]:
    """Row groups of a figure spec's ``experiments``: ``[(row label, {column label: id})]``.

    Flat (``{column label: id}``): one group, every method on the same measurement (Figures 1
    and 3). Nested (``{row label: {column label: id}}``): one row per setting, each with its
    own measurement (Figure 2: one row per number of observed pixels, Meta and UNet columns).
    """
    if all(isinstance(v, str) for v in experiments.values()):
        return [("", dict(experiments))]
    if not all(isinstance(v, Mapping) for v in experiments.values()):
        raise ValueError("either all column → id, or all row → {column → id}")
    return [(str(row), dict(cols)) for row, cols in experiments.items()]


def figure_experiments(experiments: Mapping[str, str | Mapping[str, str]]) -> list[str]:
    """Every experiment id a figure shows, in order, once."""
    return list(dict.fromkeys(eid for _, cols in figure_layout(experiments) for eid in cols.values()))


def figure_ids(resolved: Resolved, number: str) -> list[str]:
    """Enabled experiments one figure shows, in order."""
    return [eid for eid in figure_experiments(resolved.config["figures"][number]["experiments"])
            if eid in resolved.experiments]


def _check_step_curves(resolved: Resolved) -> None:
    """A step curve names meta experiments of one task scored on one measurement (same
    ``eval.observed``), and classical solvers of that task: ``red`` with ``params_from`` an
    experiment of method red, ``gd`` without."""
    for name, curve in resolved.config.get("step_curves", {}).items():
        key = f"config.step_curves.{name}"
        tasks, observed = set(), set()
        for label, eid in curve["experiments"].items():
            if eid not in resolved.all:
                raise ConfigError(f"{key}.experiments.{label}: unknown experiment {eid!r}")
            spec = resolved.all[eid]
            if spec["method"] != "meta":
                raise ConfigError(f"{key}.experiments.{label}: {eid!r} is a {spec['method']} experiment; "
                                  "a step curve evaluates meta experiments (classical ones go under solvers)")
            tasks.add(spec["task"]["name"])
            observed.add(str(spec["eval"]["observed"]))
        if len(tasks) > 1 or len(observed) > 1:
            raise ConfigError(f"{key}.experiments: the curves must share one task and one measurement "
                              f"(eval.observed); got tasks {sorted(tasks)}, observed {sorted(observed)}")
        for label, solver in curve["solvers"].items():
            where = f"{key}.solvers.{label}.params_from"
            src = solver["params_from"]
            if solver["kind"] == "gd":
                if src is not None:
                    raise ConfigError(f"{where}: a gd solver has no tuned parameters (step_size sets α)")
                continue
            if src is None or src not in resolved.all or resolved.all[src]["method"] != "red":
                raise ConfigError(f"{where}: a red solver runs with the tuned parameters of a red "
                                  f"experiment; {src!r} is not one")
            if resolved.all[src]["task"]["name"] not in tasks:
                raise ConfigError(f"{where}: {src!r} belongs to another task than the curve's {sorted(tasks)}")


def step_curve_ids(resolved: Resolved, name: str) -> list[str]:
    """Enabled meta experiments one step curve evaluates, in order (none for a disabled curve)."""
    curve = resolved.config["step_curves"][name]
    return [eid for eid in curve["experiments"].values() if curve["enabled"] and eid in resolved.experiments]


def step_curve_spec(resolved: Resolved, name: str) -> dict:
    """What the step_curve job reads: the curve's title and steps, the job spec of each
    enabled meta experiment by label, and the classical solvers whose ``params_from`` (if any)
    is enabled."""
    curve = resolved.config["step_curves"][name]
    enabled = resolved.experiments
    return {"title": curve["title"], "steps": list(curve["steps"]), "tf32": resolved.config["tf32"],
            "experiments": {label: job_spec(enabled[eid]) for label, eid in curve["experiments"].items()
                            if eid in enabled},
            "solvers": {label: dict(s) for label, s in curve["solvers"].items()
                        if s["params_from"] is None or s["params_from"] in enabled}}


def _check_capacity_studies(resolved: Resolved) -> None:
    """A capacity study's points are meta experiments, and its points and references score one
    task on one measurement (same ``eval.observed``; ``eval.data_consistency`` may differ: it
    changes the reconstruction, not the measurement), so every pairing is image by image."""
    for name, study in resolved.config.get("capacity_studies", {}).items():
        key = f"config.capacity_studies.{name}"
        measured = {}
        for part in ("experiments", "references"):
            for label, eid in study[part].items():
                if eid not in resolved.all:
                    raise ConfigError(f"{key}.{part}.{label}: unknown experiment {eid!r}")
                spec = resolved.all[eid]
                if part == "experiments" and spec["method"] != "meta":
                    raise ConfigError(f"{key}.experiments.{label}: {eid!r} is a {spec['method']} experiment; "
                                      "the points of a capacity study are meta experiments (others go under references)")
                measured[f"{part}.{label}"] = (spec["task"]["name"], str(spec["eval"]["observed"]))
        if len(set(measured.values())) > 1:
            got = ", ".join(f"{k}: {t} (observed {o})" for k, (t, o) in measured.items())
            raise ConfigError(f"{key}: points and references must score one task on one measurement; got {got}")


def capacity_ids(resolved: Resolved, name: str) -> list[str]:
    """Enabled experiments a capacity study reads (points, then references), once each; none
    for a disabled study or one without an enabled point."""
    study = resolved.config["capacity_studies"][name]
    points = [e for e in study["experiments"].values() if e in resolved.experiments]
    if not study["enabled"] or not points:
        return []
    refs = [e for e in study["references"].values() if e in resolved.experiments]
    return list(dict.fromkeys(points + refs))


def capacity_spec(resolved: Resolved, name: str) -> dict:
    """What the capacity job reads: title, metrics, the job spec of each enabled point by label,
    and the enabled references (label → id)."""
    study = resolved.config["capacity_studies"][name]
    enabled = resolved.experiments
    return {"title": study["title"], "metrics": list(study["metrics"]),
            "experiments": {label: job_spec(enabled[eid]) for label, eid in study["experiments"].items()
                            if eid in enabled},
            "references": {label: eid for label, eid in study["references"].items() if eid in enabled}}


def _check_unrolled(resolved: Resolved) -> None:
    """An unrolled experiment starts from the tuned parameters of an enabled classical
    experiment of the same solver at the DnCNN's resolution."""
    enabled = resolved.experiments
    for eid in resolved.ids_of("unrolled"):
        cfg = enabled[eid]["unrolled"]
        key = f"config.experiments.{eid}.unrolled.params_from"
        src = cfg["params_from"]
        if src is None:
            raise ConfigError(f"{key}: an unrolled solver starts from a tuned classical experiment; name one")
        if src not in enabled or enabled[src]["method"] != cfg["solver"]:
            raise ConfigError(f"{key}: {src!r} is not an enabled {cfg['solver']} experiment")
        if enabled[src]["task"]["name"] != enabled[eid]["task"]["name"]:
            raise ConfigError(f"{key}: {src!r} belongs to another task")


def lpips_nets(resolved: Resolved, eid: str) -> list[str]:
    """LPIPS trunks asked for by the tables that show experiment ``eid``, the claims that
    compare it and the capacity studies that place it (metric ``LPIPS_<net>``)."""
    metrics = {metric for table in resolved.config.get("tables", {}).values()
               if any(row.get("experiment") == eid for row in table["rows"])
               for metric in table["metrics"]}
    metrics |= {c["metric"] for c in claims(resolved) if eid in (c["a"], c["b"])}
    metrics |= {metric for study in resolved.config.get("capacity_studies", {}).values()
                if eid in study["experiments"].values() or eid in study["references"].values()
                for metric in study["metrics"]}
    return sorted(m.split("_", 1)[1] for m in metrics if m.startswith("LPIPS_"))


def claims(resolved: Resolved) -> list[dict]:
    """``config.claims`` as one comparison per (A, B) pair, in order, each with ``run``: both
    experiments enabled in this configuration (else the claim reads "not run").

    A claim whose ``b`` is a list becomes one comparison per B (same id). Checks: ids unique,
    and A and B of a run comparison score the same validation images (same task), since the
    comparison is paired image by image.
    """
    out, seen = [], set()
    for i, claim in enumerate(resolved.config.get("claims", [])):
        key = f"config.claims[{i}]"
        if claim["id"] in seen:
            raise ConfigError(f"{key}.id: duplicate claim id {claim['id']!r}")
        seen.add(claim["id"])
        bs = claim["b"] if isinstance(claim["b"], list) else [claim["b"]]
        for b in bs:
            a = claim["a"]
            if a == b:
                raise ConfigError(f"{key}: compares {a!r} with itself")
            for side, eid in (("a", a), ("b", b)):
                if eid not in resolved.all:
                    raise ConfigError(f"{key}.{side}: unknown experiment {eid!r} (claim {claim['id']!r}); "
                                      "a disabled experiment reads 'not run', an unknown one is an error")
            run = a in resolved.experiments and b in resolved.experiments
            ta, tb = resolved.all[a]["task"]["name"], resolved.all[b]["task"]["name"]
            if ta != tb:
                raise ConfigError(f"{key}: {a!r} ({ta}) and {b!r} ({tb}) score different images; "
                                  "a paired comparison needs one task")
            out.append({**{k: claim[k] for k in ("id", "statement", "metric", "direction")},
                        "a": a, "b": b, "run": run})
    return out


def claim_experiments(resolved: Resolved) -> list[str]:
    """Enabled experiments that some claim compares (their metrics.csv feed the claims rule)."""
    return list(dict.fromkeys(e for c in claims(resolved) if c["run"] for e in (c["a"], c["b"])))


def denoiser_spec(config: Mapping) -> dict:
    """The DnCNN training spec: ``config.denoiser`` plus the run-wide seed and precision."""
    return {**config["denoiser"], "seed": config["seed"], "tf32": config["tf32"],
            "tuning": config["data"]["tuning"]}


__all__ = ["ConfigError", "Resolved", "resolve", "resolve_experiment", "load_config", "validate_config", "lpips_nets",
           "available_images", "job_spec", "method_defaults",
           "normalise_spec", "normalise_denoiser_spec", "complete_experiment", "deep_merge", "table_experiments", "figure_layout", "figure_experiments", "figure_ids",
           "denoiser_spec", "claims", "claim_experiments", "step_curve_ids", "step_curve_spec",
           "capacity_ids", "capacity_spec"]
