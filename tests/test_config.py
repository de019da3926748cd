"""Configuration resolution (metainv.config): defaults, tasks, model_from, params_from and the
cross-references, each failure naming its key. Built from the shipped config files."""

import copy
from pathlib import Path

import pytest
import yaml

from metainv.config import load_config, normalise_denoiser_spec, normalise_spec, resolve
from metainv.errors import ConfigError, MetainvError

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "config.yaml"
QUICK = REPO / "config" / "quick.yaml"


@pytest.fixture(scope="module")
def paper_raw():
    return yaml.safe_load(PAPER.read_text())


def raw(paper_raw, **override):
    from metainv.config import deep_merge

    return deep_merge(paper_raw, override)


def test_defaults_are_merged_under_each_experiment_and_the_task_attached(paper_raw):
    specs = resolve(copy.deepcopy(paper_raw)).all
    m2 = specs["meta_center_m2"]
    # experiment_defaults (siren, outer.lr) under the experiment's own keys (inner.steps)
    assert m2["siren"] == {"hidden": 256, "layers": 5, "omega0": 30, "modulation": {"kind": "none", "latent_dim": 256}}
    assert m2["outer"]["lr"] == 1e-5 and m2["inner"]["steps"] == 2
    # schema defaults fill what neither states
    assert m2["inner"]["order"] == "second" and m2["outer"]["grad_clip"] is None
    assert m2["task"] == {"name": "inpaint_center", "resolution": 128,
                          "operator": {"kind": "inpaint_center", "noise_std": 0.0}}
    assert m2["id"] == "meta_center_m2" and m2["seed"] == 0 and m2["tf32"] is False


def test_an_experiment_override_beats_the_defaults(paper_raw):
    config = raw(paper_raw, experiment_defaults={"outer": {"lr": 3e-4}},
                 experiments={"meta_center_m3": {"outer": {"lr": 7e-4}}})
    specs = resolve(config).all
    assert specs["meta_center_m2"]["outer"]["lr"] == 3e-4
    assert specs["meta_center_m3"]["outer"]["lr"] == 7e-4
    assert specs["meta_center_m3"]["outer"]["batch_size"] == 5  # sibling key kept


def test_quick_config_merges_over_the_paper_config():
    specs = resolve(load_config(PAPER, QUICK)).all
    assert specs["meta_center_m5"]["siren"]["hidden"] == 64
    assert specs["meta_center_m5"]["task"]["resolution"] == 32
    assert specs["meta_center_m5"]["outer"]["inner_lr_lr"] == 0.05
    # every DnCNN task at 32² (the denoiser's resolution, which the classical rows must share)
    assert {specs[e]["task"]["resolution"] for e in ("red_12", "meta_red_l2", "hqs_cs", "hqs_sr", "hqs_mri")} == {32}


def test_model_from_evaluates_the_source_model_with_its_own_eval(paper_raw):
    specs = resolve(copy.deepcopy(paper_raw)).all
    k10, src = specs["meta_random_k10"], specs["meta_random"]
    assert k10["model_from"] == "meta_random" and k10["id"] == "meta_random_k10"
    assert k10["eval"]["observed"] == 10 and src["eval"]["observed"] == 500
    assert {k: v for k, v in k10.items() if k not in ("id", "model_from", "eval")} == \
        {k: v for k, v in src.items() if k not in ("id", "model_from", "eval")}
    resolved = resolve(copy.deepcopy(paper_raw))
    assert "meta_random_k10" not in resolved.trained_ids("meta") and "meta_random" in resolved.trained_ids("meta")


@pytest.mark.parametrize("override, key", [
    ({"experiments": {"meta_random_k10": {"model_from": "nope"}}}, "config.experiments.meta_random_k10.model_from"),
    ({"experiments": {"meta_random_k10": {"model_from": "meta_center_m2"}}},
     "config.experiments.meta_random_k10.model_from"),
    ({"experiments": {"meta_random_k10": {"model_from": "meta_random_k500"}}},
     "config.experiments.meta_random_k10.model_from"),
    ({"experiments": {"meta_random": {"enabled": False}}}, "config.experiments.meta_random_k10"),
])
def test_bad_model_from_names_the_key(paper_raw, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        resolve(raw(paper_raw, **override))


def test_params_from_must_name_an_enabled_red_experiment(paper_raw):
    resolved = resolve(copy.deepcopy(paper_raw))
    assert resolved.all["meta_red_l1"]["solver"]["params_from"] == "red_12"
    for target in ("hqs_12", "nope"):
        with pytest.raises(ConfigError, match=r"config\.experiments\.meta_red_l1\.solver\.params_from"):
            resolve(raw(paper_raw, experiments={"meta_red_l1": {"solver": {"params_from": target}}}))
    with pytest.raises(ConfigError, match=r"meta_red_l1\.solver\.params_from: 'red_12'"):
        resolve(raw(paper_raw, experiments={"red_12": {"enabled": False}}))


def test_unrolled_solvers_start_from_an_enabled_classical_experiment_of_their_solver(paper_raw):
    resolved = resolve(copy.deepcopy(paper_raw))
    assert resolved.all["hqs_12_unrolled"]["unrolled"] == {"solver": "hqs", "steps": 12, "params_from": "hqs_12",
                                                          "checkpoint_denoiser": False}
    assert resolved.all["red_12_unrolled"]["train"]["batch_size"] == 3
    assert resolved.trained_ids("unet") == ["unet_center", "unet_random", "unet_cs", "unet_sr", "unet_mri",
                                                "unet_mri_8x"]
    # the Table 2 UNet is evaluated at each K with the model trained on Meta's K distribution
    k10 = resolved.all["unet_random_k10"]
    assert k10["model_from"] == "unet_random" and k10["eval"]["observed"] == 10
    for target in ("red_12", "meta_red_l1", "ghost"):
        with pytest.raises(ConfigError, match=r"config\.experiments\.hqs_12_unrolled\.unrolled\.params_from"):
            resolve(raw(paper_raw, experiments={"hqs_12_unrolled": {"unrolled": {"params_from": target}}}))
    with pytest.raises(ConfigError, match=r"hqs_12_unrolled\.unrolled\.params_from: 'hqs_12'"):
        resolve(raw(paper_raw, experiments={"hqs_12": {"enabled": False}}))


def test_a_red_solver_without_params_from_needs_lam_and_sigma_f(paper_raw):
    config = copy.deepcopy(paper_raw)
    solver = config["experiments"]["meta_red_l1"]["solver"]
    del solver["params_from"]
    solver["params"] = {"lam": 100}
    with pytest.raises(ConfigError, match=r"meta_red_l1\.solver\.params.*sigma_f"):
        resolve(config)
    solver["params"] = {"lam": 100, "sigma_f": 0.05}
    assert resolve(config).all["meta_red_l1"]["solver"]["params"] == {"lam": 100, "sigma_f": 0.05}


def test_unknown_solver_parameters_name_the_key(paper_raw):
    config = raw(paper_raw, experiments={"hqs_12": {"classical": {"tune": {"grid": {"sigma_f": [0.1]}}}}})
    with pytest.raises(ConfigError, match=r"config\.experiments\.hqs_12\.classical\.tune\.grid.*sigma_f"):
        resolve(config)


@pytest.mark.parametrize("override, key", [
    ({"tables": {"1": {"rows": [{"label": "x", "experiment": "ghost", "paper_method": "Meta-2"}]}}},
     r"config\.tables\.1\.rows\[0\]\.experiment: unknown experiment 'ghost'"),
    ({"figures": {"1": {"experiments": {"Meta-9": "ghost"}}}},
     r"config\.figures\.1\.experiments\.Meta-9: unknown experiment 'ghost'"),
    ({"figures": {"2": {"experiments": {"10": {"UNet": "ghost"}}}}},
     r"config\.figures\.2\.experiments\.10\.UNet: unknown experiment 'ghost'"),
    ({"figures": {"2": {"experiments": {"20": "meta_random_k10"}}}},
     r"config\.figures\.2\.experiments: either all column"),
    ({"experiments": {"unet_center": {"method": "unets"}}}, r"config\.experiments\.unet_center\.method: unknown method"),
    ({"experiments": {"meta_center_m2": {"task": "deblur_typo"}}},
     r"config\.experiments\.meta_center_m2\.task: unknown task 'deblur_typo'"),
    ({"experiments": {"meta_center_m2": {"inner": {"steps": 0}}}},
     r"config\.experiments\.meta_center_m2\.inner\.steps: Input should be greater than or equal to 1"),
    ({"experiment_defaults": {"outer": {"lrr": 0.1}}}, r"config\.experiments\.\w+\.outer: 'lrr' was unexpected"),
    ({"experiment_defaults": {"outr": {"lr": 0.1}}}, r"config\.experiment_defaults\.outr: no experiment method"),
    ({"experiments": {"meta_random_k10": {"inner": {"steps": 3}}}},
     r"config\.experiments\.meta_random_k10: 'inner' was unexpected"),
    ({"data": {"source": "imagenet"}}, r"config\.data\.source: Input should be"),
    ({"claims": [{"id": "typo", "statement": "s", "a": "meta_center_m7", "b": "meta_center_m9",
                  "metric": "PSNR", "direction": "greater"}]},
     r"config\.claims\[0\]\.b: unknown experiment 'meta_center_m9' \(claim 'typo'\)"),
    ({"data": {"source": "folder"}}, r"config\.data\.folder"),
    ({"denoiser": {"resolution": 32}}, r"config\.experiments\.red_12: task resolution 64"),
])
def test_bad_references_and_values_name_the_key(paper_raw, override, key):
    with pytest.raises(ConfigError, match=key) as info:
        resolve(raw(paper_raw, **override))
    assert isinstance(info.value, MetainvError)


def test_a_spec_written_by_hand_gets_the_same_defaults_as_the_workflow(paper_raw):
    resolved = resolve(copy.deepcopy(paper_raw)).all["meta_center_m5"]
    by_hand = {"id": "meta_center_m5", "task": resolved["task"],
               "inner": {"steps": 5, "lr_scheme": "per_step", "lr_init": 0.01, "lr_param": "log"},
               "siren": {"hidden": 256, "layers": 5, "omega0": 30},
               "outer": {"loss": "l2", "lr": 1e-5, "inner_lr_lr": 0.02, "batch_size": 5, "steps": 30000}}
    assert normalise_spec(by_hand) == resolved
    assert normalise_spec(resolved) == resolved  # idempotent on what the Snakefile passes
    from metainv.config import job_spec

    for eid in ("meta_random_k10", "unet_random_k500", "red_12", "interp_random_k10"):
        spec = resolve(copy.deepcopy(paper_raw)).all[eid]  # model_from specs carry the source's keys
        assert job_spec(normalise_spec(job_spec(spec))) == job_spec(spec), eid
    with pytest.raises(ConfigError, match="task"):
        normalise_spec({"id": "x", "task": "inpaint_center"})


def test_denoiser_spec_gets_its_schema_defaults():
    spec = normalise_denoiser_spec({"depth": 3, "features": 8, "seed": 4})
    assert spec["depth"] == 3 and spec["seed"] == 4 and spec["noise_std"] == 0.05
    assert spec["tf32"] is False and spec["tuning"] == 200


def test_meta_defaults_reach_only_meta_experiments_and_jobs_get_only_what_they_compute(paper_raw):
    """experiment_defaults.outer.lr changes the meta specs and no classical, UNet or unrolled
    job's spec, so it reruns no such job; enabled/description never reach a job."""
    from metainv.config import job_spec

    before = resolve(copy.deepcopy(paper_raw)).all
    after = resolve(raw(paper_raw, experiment_defaults={"outer": {"lr": 3e-4}, "siren": {"hidden": 64}})).all
    for eid, spec in before.items():
        same = job_spec(after[eid]) == job_spec(spec)
        assert same == (spec["method"] != "meta"), eid
    assert "outer" not in before["red_12"] and "siren" not in before["unet_center"]
    described = raw(paper_raw, experiments={"red_12": {"description": "changed words"}})
    assert job_spec(resolve(described).all["red_12"]) == job_spec(before["red_12"])


def test_a_batch_larger_than_the_training_split_is_refused(paper_raw):
    from metainv.config import load_config

    quick = load_config(PAPER, QUICK)
    resolve(copy.deepcopy(quick))
    for eid, block in (("meta_center_m2", "outer"), ("unet_center", "train")):
        bad = copy.deepcopy(quick)
        bad["experiments"][eid][block] = {"batch_size": 500}
        with pytest.raises(ConfigError, match=rf"config\.experiments\.{eid}\.{block}\.batch_size: 500 images"):
            resolve(bad)


def test_a_claim_naming_a_disabled_experiment_reads_not_run(paper_raw):
    from metainv.config import claims

    config = raw(paper_raw, experiments={"meta_center_m2": {"enabled": False}})
    rows = {c["id"]: c["run"] for c in claims(resolve(config))}
    assert rows["more_inner_steps"] is False and rows["unet_center"] is True


def test_resolving_a_config_does_not_import_torch():
    """Every snakemake call (a dry run too) imports what the Snakefile's rules import and resolves
    the config: torch's 2–3 s of import stay out."""
    import subprocess
    import sys

    imports = sorted({line.strip() for smk in [REPO / "Snakefile", *(REPO / "workflow/rules").glob("*.smk")]
                      for line in smk.read_text().splitlines()
                      if line.startswith(("from metainv", "import metainv"))})
    assert any("config" in line for line in imports), imports  # common.smk: metainv.config
    code = ("import sys\n" + "\n".join(imports) + "\nfrom metainv.config import load_config, resolve\n"
            f"resolve(load_config({str(REPO / 'config/config.yaml')!r}, {str(REPO / 'config/quick.yaml')!r}))\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_only_the_dncnn_solvers_must_run_at_the_dncnns_resolution(paper_raw):
    """RED / HQS apply the DnCNN at their task's resolution; TV has no DnCNN, so its task may
    have any resolution."""
    at_32 = {"tasks": {"mri": {"resolution": 32}}}
    with pytest.raises(ConfigError, match=r"^config\.experiments\.hqs_mri: task resolution 32"):
        resolve(raw(paper_raw, **at_32))
    others = {eid: {"enabled": False} for eid, spec in paper_raw["experiments"].items()
              if spec.get("task") == "mri" and eid != "tv_mri"}
    resolved = resolve(raw(paper_raw, **at_32, experiments=others))
    assert "tv_mri" in resolved.ids_of("tv") and resolved.all["tv_mri"]["task"]["resolution"] == 32
