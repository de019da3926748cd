"""Configuration resolution: from ``config/*.yaml`` to the spec of each experiment.

Called by the Snakefile (``workflow/rules/common.smk``), by the CLI (a ``--spec`` written by
hand gets the same defaults) and by the tests, so all three see one set of rules:

1. the top level is validated against ``schemas/config.schema.yaml`` (defaults filled in);
2. each experiment is ``experiment_defaults`` deep-merged *under* ``experiments.<id>``,
   validated against ``schemas/experiment.schema.yaml`` (defaults filled in), and its task
   name replaced by the task's block (``{"name": ..., "resolution", "operator"}``), with the
   run-wide ``seed`` and ``tf32`` attached;
3. ``model_from: <id>`` makes an experiment evaluate another's trained model: its spec is the
   source's, with only ``id``, ``eval`` and ``enabled`` its own;
4. cross-references are checked — ``solver.params_from`` names an enabled RED experiment,
   a RED solver inside a meta experiment has λ and σ_f, table rows and figure columns name
   experiments, classical baselines share the DnCNN's resolution;
5. values that only fail against another value are checked here, at plan time, not in a job
   hours later: ``data.folder`` exists, ``data.n_val``/``n_train`` fit the images available
   (counted for the sample set and a folder, the official partition for CelebA), the observed
   pixels of ``tasks.<t>.operator.observed_range`` and ``eval.observed`` fit the image, a blur
   kernel fits it, the DnCNN's held-out images leave some to train on.

Every failure is a :class:`ConfigError` whose message names the key
(``config.experiments.meta_center_m2.inner.steps``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from metainv.errors import ConfigError

#: Keys of a resolved experiment spec that do not come from the experiment schema.
RESOLVED_KEYS = ("id", "seed", "tf32", "tuning")


def schema_path(name: str) -> Path:
    """Path of a packaged JSON schema (``config`` or ``experiment``)."""
    return Path(str(resources.files("metainv.schemas").joinpath(f"{name}.schema.yaml")))


def validate(data: dict, schema: str, where: str) -> dict:
    """Validate ``data`` in place against a packaged schema, filling in its defaults.

    Uses :func:`snakemake.utils.validate` (jsonschema with defaults), so the workflow and the
    CLI fill exactly the same defaults. Raises :class:`ConfigError` naming ``where`` and the
    offending key.
    """
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate as snakemake_validate

    try:
        snakemake_validate(data, str(schema_path(schema)))
    except WorkflowError as e:
        cause = e.__context__ if e.__context__ is not None else e  # the jsonschema ValidationError
        raise ConfigError(f"{where} is invalid: {_jsonschema_message(cause)}") from e
    return data


def _jsonschema_message(error: Any) -> str:
    """``key.path: message`` of a jsonschema ValidationError (else its text).

    Only the message, never the schema (jsonschema's ``str`` prints the whole schema); an
    unknown key lists the allowed keys.
    """
    path = getattr(error, "absolute_path", None)
    message = getattr(error, "message", None)
    if message is None:
        return str(error).split("\n\nFailed validating", 1)[0]
    schema = getattr(error, "schema", None)
    if getattr(error, "validator", None) == "additionalProperties" and isinstance(schema, Mapping) \
            and isinstance(schema.get("properties"), Mapping):
        message += f"; allowed keys: {', '.join(schema['properties'])}"
    return f"{'.'.join(map(str, path))}: {message}" if path else message


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
    """The top level, validated in place with its defaults (see ``config.schema.yaml``), and
    its cross-field checks (data source, task operators)."""
    _validate_top(config)
    return config


def _validate_top(config: dict) -> dict[str, int]:
    """:func:`validate_config`; returns the images available (:func:`available_images`)."""
    validate(config, "config", "config")
    data = config["data"]
    if data["source"] == "folder" and not data["folder"]:
        raise ConfigError("config.data.folder: data.source is 'folder' but data.folder is not set "
                          "(a folder of JPEG/PNG images)")
    _check_tasks(config["tasks"])
    return _check_data(data)


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
            rng = op.get("observed_range")
            if rng is None and op.get("half_probability", 0.0) < 1:
                raise ConfigError(f"{key}.observed_range: random inpainting draws the observed pixels "
                                  "per training batch from [lo, hi]; set it")
            if rng is not None:
                lo, hi = rng
                if lo > hi:
                    raise ConfigError(f"{key}.observed_range: [{lo}, {hi}] is not ordered (lo ≤ hi)")
                if hi > pixels:
                    raise ConfigError(f"{key}.observed_range: [{lo}, {hi}] observes more pixels than "
                                      f"a {res}×{res} image has ({pixels})")
        if op["kind"] == "blur":
            for field in ("kernel_size", "kernel_std"):
                if field not in op:
                    raise ConfigError(f"{key}.{field}: a blur operator needs kernel_size and kernel_std")
            size = op["kernel_size"]
            if size % 2 == 0:
                raise ConfigError(f"{key}.kernel_size: {size} must be odd (the kernel is centred)")
            if size > res:
                raise ConfigError(f"{key}.kernel_size: {size} is larger than the {res}×{res} image "
                                  f"(config.tasks.{name}.resolution)")



def default_tuning() -> int:
    """``data.tuning``'s schema default (the size of the tuning split)."""
    schema = yaml.safe_load(schema_path("config").read_text())
    return int(schema["properties"]["data"]["properties"]["tuning"]["default"])


def complete_experiment(spec: Mapping, task: Mapping, eid: str = "experiment",
                        seed: int = 0, tf32: bool = False, tuning: int | None = None) -> dict:
    """One experiment block (``task`` still a name) validated with defaults, task attached,
    with the run-wide ``seed``, ``tf32`` and ``tuning`` (size of the tuning split)."""
    spec = copy.deepcopy(dict(spec))
    validate(spec, "experiment", f"config.experiments.{eid}")
    spec["id"] = eid
    spec["seed"] = seed
    spec["tf32"] = tf32
    spec["tuning"] = int(tuning) if tuning is not None else default_tuning()
    spec["task"] = {"name": spec["task"], **copy.deepcopy(dict(task))}
    return spec


def normalise_spec(spec: Mapping) -> dict:
    """A resolved experiment spec (task as a block) with any missing defaults filled in.

    What the CLI does with ``--spec``: specs from the Snakefile are already complete and come
    back unchanged; a spec written by hand needs only what differs from the schema defaults
    (``id``, ``task`` with its operator, and the experiment's own keys).
    """
    spec = dict(spec)
    task = spec.get("task")
    if not isinstance(task, Mapping) or "name" not in task:
        raise ConfigError("spec.task: a resolved spec needs the task block "
                          "({name, resolution, operator}); resolve config files with metainv.config")
    task = dict(task)
    own = {k: v for k, v in spec.items() if k not in RESOLVED_KEYS}
    own["task"] = task.pop("name")
    own.setdefault("method", "meta")  # what config.yaml's experiment_defaults states
    return complete_experiment(own, task, str(spec.get("id", "spec")), int(spec.get("seed", 0)),
                               bool(spec.get("tf32", False)), spec.get("tuning"))


def normalise_denoiser_spec(spec: Mapping) -> dict:
    """A DnCNN training spec (``config.denoiser`` + ``seed``/``tf32``/``tuning``) with defaults filled."""
    import jsonschema

    spec = copy.deepcopy(dict(spec))
    extra = {k: spec.pop(k) for k in ("seed", "tf32", "tuning") if k in spec}
    schema = yaml.safe_load(schema_path("config").read_text())["properties"]["denoiser"]
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(spec))
    if error is not None:
        raise ConfigError(f"config.denoiser is invalid: {_jsonschema_message(error)}")
    return {**spec, "seed": int(extra.get("seed", 0)), "tf32": bool(extra.get("tf32", False)),
            "tuning": int(extra.get("tuning", default_tuning()))}


def _with_defaults(validator_class):
    """jsonschema validator that fills ``default`` values of properties (jsonschema FAQ)."""
    import jsonschema

    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        for name, sub in properties.items():
            if isinstance(instance, dict) and "default" in sub:
                instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def resolve_experiment(config: Mapping, eid: str) -> dict:
    """One experiment of a validated config: defaults merged under it, task attached."""
    merged = deep_merge(config.get("experiment_defaults", {}), config["experiments"][eid])
    task = merged.get("task")
    spec = complete_experiment(merged, {}, eid, config["seed"], config["tf32"], config["data"]["tuning"])
    if task not in config["tasks"]:
        raise ConfigError(f"config.experiments.{eid}.task: unknown task {task!r}; "
                          f"defined tasks: {sorted(config['tasks'])}")
    spec["task"] = {"name": task, **copy.deepcopy(config["tasks"][task])}
    return spec


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
        return [eid for eid in self.ids_of(method) if "model_from" not in self.all[eid]]


def resolve(config: dict) -> Resolved:
    """Validate ``config`` in place and resolve every experiment; check cross-references."""
    counts = _validate_top(config)
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
    claims(resolved)  # checks the claims' cross-references
    return resolved


def _check_data_consistency(specs: Mapping[str, dict]) -> None:
    """``eval.data_consistency`` is a projection onto the observed pixels: a meta experiment
    with solver kind none on an inpainting task (a mask operator), nothing else."""
    for eid, spec in specs.items():
        if not spec["eval"].get("data_consistency", False):
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
        observed = spec["eval"].get("observed")
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


def _check_tuning_leaves_training(config: Mapping, counts: Mapping[str, int]) -> None:
    """The tuning split (the tail of the training split) leaves some images to train on."""
    data, tuning = config["data"], config["data"]["tuning"]
    n_train = counts["train"] if "train" in counts else counts["pool"] - data["n_val"]
    if data["n_train"] is not None:
        n_train = min(n_train, data["n_train"])
    if tuning >= n_train:
        raise ConfigError(f"config.data.tuning: {tuning} tuning images, but the training "
                          f"split has {n_train} (tuning ≤ {n_train - 1})")


def _apply_model_from(specs: dict[str, dict]) -> dict[str, dict]:
    out = dict(specs)
    for eid, spec in specs.items():
        src = spec.get("model_from")
        if src is None:
            continue
        key = f"config.experiments.{eid}.model_from"
        if src not in specs or "model_from" in specs[src]:
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
    from metainv.solvers import check_params

    enabled = resolved.experiments
    for eid, spec in enabled.items():
        solver = spec.get("solver", {})
        key = f"config.experiments.{eid}.solver"
        if spec["method"] == "meta" and solver.get("params"):
            check_params(solver["kind"], solver["params"], key=f"{key}.params")
        if spec["method"] in ("red", "hqs"):
            classical = spec["classical"]
            check_params(spec["method"], classical["params"], key=f"config.experiments.{eid}.classical.params")
            check_params(spec["method"], classical["tune"]["grid"],
                         key=f"config.experiments.{eid}.classical.tune.grid")
        if spec["method"] != "meta" or solver.get("kind") != "red":
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
    res = config["denoiser"]["resolution"]
    for eid in resolved.ids_of("red", "hqs"):
        task_res = resolved.all[eid]["task"]["resolution"]
        if task_res != res:
            raise ConfigError(
                f"config.experiments.{eid}: task resolution {task_res} differs from "
                f"config.denoiser.resolution {res}; the DnCNN and its tuning images must come "
                "from the same store")


def _check_tuning_sizes(config: Mapping, resolved: Resolved) -> None:
    """Every choice reads its images from the tuning split: none may ask for more than it holds."""
    tuning = config["data"]["tuning"]
    asks = [("config.denoiser.val_images", config["denoiser"]["val_images"])]
    for eid, spec in resolved.experiments.items():
        if spec["method"] == "meta" and "model_from" not in resolved.all[eid]:
            asks.append((f"config.experiments.{eid}.outer.val_images", spec["outer"]["val_images"]))
        if spec["method"] in ("red", "hqs"):
            asks.append((f"config.experiments.{eid}.classical.tune.images", spec["classical"]["tune"]["images"]))
        if spec["method"] in ("unet", "unrolled"):
            asks.append((f"config.experiments.{eid}.train.val_images", spec["train"]["val_images"]))
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


def _check_unrolled(resolved: Resolved) -> None:
    """An unrolled experiment starts from the tuned parameters of an enabled classical
    experiment of the same solver at the DnCNN's resolution."""
    enabled = resolved.experiments
    for eid in resolved.ids_of("unrolled"):
        cfg = enabled[eid]["unrolled"]
        key = f"config.experiments.{eid}.unrolled.params_from"
        src = cfg.get("params_from")
        if src is None:
            raise ConfigError(f"{key}: an unrolled solver starts from a tuned classical experiment; name one")
        if src not in enabled or enabled[src]["method"] != cfg["solver"]:
            raise ConfigError(f"{key}: {src!r} is not an enabled {cfg['solver']} experiment")
        if enabled[src]["task"]["name"] != enabled[eid]["task"]["name"]:
            raise ConfigError(f"{key}: {src!r} belongs to another task")


def lpips_nets(resolved: Resolved, eid: str) -> list[str]:
    """LPIPS trunks asked for by the tables that show experiment ``eid`` and the claims that
    compare it (metric ``LPIPS_<net>``)."""
    metrics = {metric for table in resolved.config.get("tables", {}).values()
               if any(row.get("experiment") == eid for row in table["rows"])
               for metric in table["metrics"]}
    metrics |= {c["metric"] for c in claims(resolved) if eid in (c["a"], c["b"])}
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
            run = a in resolved.experiments and b in resolved.experiments
            if a in resolved.all and b in resolved.all:
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
           "available_images",
           "normalise_spec", "normalise_denoiser_spec", "complete_experiment", "deep_merge",
           "schema_path", "default_tuning", "table_experiments", "figure_layout", "figure_experiments", "figure_ids",
           "denoiser_spec", "claims", "claim_experiments"]
