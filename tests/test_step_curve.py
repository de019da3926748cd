"""Stage step_curve (PSNR against inner steps, not in the paper): the point at 0 steps is
f(φ_θ), the one at inner.steps is the experiment's own reconstruction, every point is finite;
a bad steps list or curve fails at resolution, naming the key."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from metainv.config import ConfigError, load_config, normalise_spec, resolve, step_curve_spec
from metainv.data.store import load_split, to_tensor, write_store
from metainv.meta.maml import adapt
from metainv.metamodel import load_meta_model, solver_parts
from metainv.recon import evaluation_measurement
from metainv.reconstructors import load_reconstructor
from metainv.stages.meta_train import meta_train
from metainv.stages.step_curve import COLUMNS, curve_points, step_curve

CPU = torch.device("cpu")
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _spec(eid, **siren):
    return normalise_spec({
        "id": eid, "tuning": 2, "task": {"name": "inpaint_center", "resolution": 16,
                                         "operator": {"kind": "inpaint_center"}},
        "siren": {"hidden": 16, "layers": 3, **siren},
        "inner": {"steps": 2, "lr_scheme": "meta_sgd", **({"adapt": "latent"} if siren else {})},
        "solver": {"kind": "gd", "steps": 1, "step_size": 0.9},
        "outer": {"lr": 1e-3, "batch_size": 2, "steps": 3, "checkpoint_every": 10, "validate_every": 0,
                  "tuning_images": 2},
        "eval": {"batch_size": 3}})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("curve")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    names = [f"img{i}" for i in range(12)]
    write_store(folder, "toy", images[:5], images[5:], names[:5], names[5:])
    specs = {"Meta": _spec("meta"), "FiLM": _spec("film", modulation={"kind": "shift", "latent_dim": 8})}
    models = {}
    for label, spec in specs.items():
        models[label] = folder / f"{spec['id']}.pt"
        meta_train(spec, folder, models[label], folder / f"{spec['id']}.csv", CPU, progress=False)
    curve = {"title": "t", "steps": [0, 1, 2, 4], "experiments": specs,
             "solvers": {"GD": {"kind": "gd", "step_size": 1.0, "params_from": None}}}
    return folder, curve, models


def _points(folder, curve, models):
    val = to_tensor(load_split(folder, "val"), CPU)
    op, y = evaluation_measurement(next(iter(curve["experiments"].values())), val)
    return {(label, k): x for label, _, _, k, x, _ in curve_points(curve, y, op, models, {}, None, CPU)}, y, op


def test_zero_steps_is_the_learned_start_and_inner_steps_the_own_reconstruction(trained):
    folder, curve, models = trained
    points, y, op = _points(folder, curve, models)
    for label, spec in curve["experiments"].items():
        _, siren, rates = load_meta_model(models[label], CPU)
        _, solver, eval_solver = solver_parts(spec, CPU)
        start = adapt(siren, rates, y, op, solver, spec["inner"]["steps"], track_meta_gradient=False,
                      final_solver=eval_solver, instruments=True).instruments.start_output
        assert torch.equal(points[(label, 0)], start.detach())  # f(φ_θ): no inner step
        own = load_reconstructor(spec, {"model": models[label]}, CPU).reconstruct_all(y, op)
        assert torch.equal(points[(label, spec["inner"]["steps"])], own)
        assert not torch.equal(points[(label, 0)], own)  # the inner steps change the output
        assert not torch.equal(points[(label, 4)], own)  # 4 > inner.steps runs 2 more steps
    for k in curve["steps"]:  # gd from the zero-filled y: observed pixels kept, the hole stays 0
        assert torch.equal(points[("GD", k)], y)


def test_the_stage_writes_a_finite_number_for_every_point(trained):
    folder, curve, models = trained
    out = step_curve(curve, folder, {label: str(p) for label, p in models.items()}, folder / "c.csv",
                     folder / "c.png", CPU)
    frame = pd.read_csv(folder / "c.csv")
    assert tuple(frame.columns) == COLUMNS
    assert sorted(zip(frame.label, frame.steps)) == sorted(
        (label, k) for label in ["Meta", "FiLM", "GD"] for k in curve["steps"])
    numbers = frame[["psnr_mean", "psnr_std", "seconds_per_image"]].to_numpy()
    assert np.isfinite(numbers).all() and (frame.seconds_per_image > 0).all()
    assert (frame.images == 7).all()
    assert out.stat().st_size > 0


@pytest.fixture(scope="module")
def quick():
    return load_config(ROOT / "config/config.yaml", ROOT / "config/quick.yaml")


@pytest.mark.parametrize("steps, words", [
    ([0, 3, 2], "strictly increasing"), ([1, 1], "strictly increasing"), ([], "at least 1"), ([-1, 2], "greater than"),
])
def test_a_bad_steps_list_is_a_config_error(quick, steps, words):
    config = copy.deepcopy(quick)
    config["step_curves"]["center"]["steps"] = steps
    with pytest.raises(ConfigError, match=r"config\.step_curves\.center\.steps") as e:
        resolve(config)
    assert words in str(e.value)


@pytest.mark.parametrize("change, words", [
    ({"experiments": {"UNet": "unet_center"}}, "evaluates meta experiments"),
    ({"experiments": {"Meta": "meta_center_m3", "Meta-2D": "meta_random"}}, "one task"),
    ({"experiments": {"Meta": "nope"}}, "unknown experiment"),
    ({"solvers": {"GD": {"kind": "gd", "params_from": "red_12"}}}, "no tuned parameters"),
    ({"solvers": {"RED": {"kind": "red", "params_from": "hqs_12"}}}, "not one"),
    ({"solvers": {"RED": {"kind": "red", "params_from": "red_12"}}}, "another task"),
])
def test_a_bad_curve_is_a_config_error(quick, change, words):
    config = copy.deepcopy(quick)
    config["step_curves"]["center"].update(change)
    with pytest.raises(ConfigError, match=r"config\.step_curves\.center") as e:
        resolve(config)
    assert words in str(e.value)


def test_the_job_spec_holds_the_enabled_experiments_only(quick):
    config = copy.deepcopy(quick)
    config["experiments"]["meta_film_center"]["enabled"] = False
    spec = step_curve_spec(resolve(config), "center")
    assert list(spec["experiments"]) == ["Meta-3"]
    assert spec["experiments"]["Meta-3"]["id"] == "meta_center_m3" and "enabled" not in spec["experiments"]["Meta-3"]
    assert spec["steps"] == [0, 1, 2, 3, 5, 10, 20, 50] and list(spec["solvers"]) == ["GD (Eq. 6) from y"]


def test_the_red_line_at_k_steps_is_red_run_from_y_for_k_steps(tmp_path):
    """A red solver of the curve: y itself at 0 steps, and at k steps what the classical RED
    experiment reconstructs with classical.steps = k and the same params.json and DnCNN."""
    from metainv.classical import write_params
    from metainv.denoiser import save_denoiser
    from metainv.nets.dncnn import DnCNN

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    write_store(tmp_path, "toy", images[:4], images[4:], [f"a{i}" for i in range(4)], [f"b{i}" for i in range(6)])
    save_denoiser(DnCNN(depth=3, features=4), tmp_path / "dncnn.pt")
    write_params(tmp_path / "params.json", {"params": {"lam": 0.5, "sigma_f": 0.05, "relax": 1.0}})
    task = {"name": "deblur", "resolution": 16,
            "operator": {"kind": "blur", "kernel_size": 5, "kernel_std": 1.0, "noise_std": 0.01}}
    meta = _spec("meta")
    meta["task"] = task
    meta = normalise_spec(meta)
    meta_train(meta, tmp_path, tmp_path / "meta.pt", tmp_path / "meta.csv", CPU, progress=False)
    curve = {"title": "t", "steps": [0, 2], "experiments": {"Meta": meta},
             "solvers": {"RED": {"kind": "red", "step_size": 1.0, "params_from": "red_12"}}}
    val = to_tensor(load_split(tmp_path, "val"), CPU)
    op, y = evaluation_measurement(meta, val)
    points = {(label, k): x for label, _, _, k, x, _ in curve_points(
        curve, y, op, {"Meta": tmp_path / "meta.pt"}, {"RED": tmp_path / "params.json"}, tmp_path / "dncnn.pt", CPU)}
    assert torch.equal(points[("RED", 0)], y)
    red = normalise_spec({"id": "red_12", "method": "red", "task": task, "classical": {"steps": 2}})
    own = load_reconstructor(red, {"params": tmp_path / "params.json", "denoiser": tmp_path / "dncnn.pt"},
                             CPU).reconstruct_all(y, op)
    assert torch.allclose(points[("RED", 2)], own, atol=1e-6)
    assert not torch.allclose(points[("RED", 2)], y, atol=1e-3)
