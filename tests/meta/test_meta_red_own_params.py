"""Meta-RED's own solver parameters, the inner-loop instruments of the training log, outer
gradient clipping and evaluation with another number of inner steps (issue 22)."""


import numpy as np
import pandas as pd
import pytest
import torch

from metainv.config import normalise_spec
from metainv.data.store import write_store
from metainv.denoiser import save_denoiser
from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapt, outer_loss
from metainv.meta.solver_params import LearnedSolverParameters
from metainv.metamodel import load_meta_model
from metainv.nets.dncnn import DnCNN
from metainv.nets.siren import Siren
from metainv.physics import build_operator
from metainv.classical import write_params
from metainv.data.store import load_split, to_tensor
from metainv.metamodel import solver_parts
from metainv.recon import evaluation_measurement, load_reconstruction
from metainv.solvers import build_solver
from metainv.stages.meta_train import meta_train, start_solver_params
from metainv.stages.reconstruct import reconstruct

CPU = torch.device("cpu")
TUNED = {"lam": 300.0, "sigma_f": 0.03, "relax": 1.0}


def _smooth_images(n: int, size: int, seed: int) -> np.ndarray:
    """Smooth colour images (sums of a few low-frequency cosines), uint8 N×H×W×3."""
    rng = np.random.default_rng(seed)
    u = np.linspace(0, 1, size)[None, :, None]
    v = np.linspace(0, 1, size)[:, None, None]
    out = []
    for _ in range(n):
        image = 0.5 + sum(0.15 * np.cos(2 * np.pi * (rng.uniform(0, 1.5) * u + rng.uniform(0, 1.5) * v)
                                         + rng.uniform(0, 6.3, 3)) for _ in range(3))
        out.append(np.clip(image, 0, 1))
    return (np.stack(out) * 255).round().astype(np.uint8)


def _red_spec(**solver):
    return normalise_spec({
        "id": "mr", "tuning": 4, "task": {"name": "deblur", "resolution": 16,
                                          "operator": {"kind": "blur", "kernel_size": 5, "kernel_std": 1.0,
                                                       "noise_std": 0.02}},
        "siren": {"hidden": 16, "layers": 3},
        "inner": {"steps": 2, "lr_scheme": "meta_sgd", "loss_reduction": "sum"},
        "solver": {"kind": "red", "steps": 2, "params_from": "red_12", **solver},
        "outer": {"lr": 1e-3, "batch_size": 2, "steps": 6, "checkpoint_every": 10, "validate_every": 3,
                  "tuning_images": 2, "solver_lr": 0.2},
        "eval": {"batch_size": 4}})


@pytest.fixture(scope="module")
def red_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("meta_red")
    images = _smooth_images(14, 16, 0)
    write_store(root, "toy", images[:10], images[10:], [f"t{i}" for i in range(10)], [f"v{i}" for i in range(4)])
    torch.manual_seed(0)
    save_denoiser(DnCNN(depth=3, features=8), root / "dncnn.pt")
    write_params(root / "params.json", {"params": TUNED})
    return root


def _train(root, spec, name, **kwargs):
    out = root / name
    out.mkdir(exist_ok=True)
    meta_train(spec, root, out / "model.pt", out / "log.csv", CPU, progress=False,
               denoiser_path=root / "dncnn.pt", solver_params_path=root / "params.json", **kwargs)
    return out


def test_solver_params_replace_those_of_params_from():
    spec = _red_spec(params={"lam": 1000.0})
    assert start_solver_params(spec, TUNED) == {"lam": 1000.0, "sigma_f": 0.03, "relax": 1.0}
    assert start_solver_params(_red_spec(), TUNED) == TUNED
    assert start_solver_params(normalise_spec({**_red_spec(), "solver": {"kind": "gd"}}), None) is None


def test_meta_red_keeps_its_own_parameters_and_learns_the_chosen_ones(red_files):
    """f's λ in model.pt differs from the baseline's params.json when configured (fixed 1000) or
    learned (moved from 300 by the outer loop); σ_f, not learned, keeps the baseline's value."""
    fixed = _train(red_files, _red_spec(params={"lam": 1000.0}), "fixed")
    state, _, _ = load_meta_model(fixed / "model.pt")
    assert state["solver_params"] == {"lam": 1000.0, "sigma_f": 0.03, "relax": 1.0}
    learned = _train(red_files, _red_spec(learn=["lam"]), "learned")
    state, _, _ = load_meta_model(learned / "model.pt")
    log = pd.read_csv(learned / "log.csv")
    assert state["solver_params"]["sigma_f"] == 0.03
    assert state["solver_params"]["lam"] != pytest.approx(TUNED["lam"], rel=1e-3)
    assert log.solver_lam.iloc[-1] == pytest.approx(state["solver_params"]["lam"], rel=1e-5) or \
        state["solver_params"]["lam"] in set(log.solver_lam.round(6))  # keep-best may pick an earlier step
    assert log.solver_lam.nunique() > 1


def test_the_inner_loop_columns_are_finite_and_the_inner_loop_adds(red_files):
    out = _train(red_files, _red_spec(params={"lam": 1000.0}), "columns")
    log = pd.read_csv(out / "log.csv")
    for column in ("loss_start", "inner_gain_db", "inner_loss_final", "inner_rel_change",
                   "inner_loss_noise_ratio"):
        assert np.isfinite(log[column]).all(), column
    curve = log.dropna(subset=["tuning_psnr"])
    assert np.isfinite(curve.tuning_psnr_start).all()
    # after a short run the adapted output beats the shared start f(φ_θ), in training and on the curve
    assert log.inner_gain_db.iloc[-3:].mean() > 0
    assert (curve.tuning_psnr - curve.tuning_psnr_start).iloc[-1] > 0
    assert (log.inner_loss_final < log.inner_loss_0).all()  # the inner loop lowers its own loss


def test_gradient_clipping_bounds_the_gradient_the_optimiser_sees(red_files, monkeypatch):
    seen = []
    step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        seen.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    spec = _red_spec(params={"lam": 1000.0})
    spec["outer"] = {**spec["outer"], "steps": 3, "validate_every": 0}
    _train(red_files, spec, "unclipped")
    unclipped, seen[:] = list(seen), []
    clip = min(unclipped) / 10
    spec["outer"] = {**spec["outer"], "grad_clip": clip}
    out = _train(red_files, spec, "clipped")
    assert max(unclipped) > clip
    assert max(seen) <= clip * (1 + 1e-5)
    # the log records the norm before clipping (same first batch and weights: the same norm)
    assert pd.read_csv(out / "log.csv").grad_norm.iloc[0] == pytest.approx(unclipped[0], rel=1e-5)


def test_zero_inner_steps_at_evaluation_is_the_shared_start(red_files):
    """eval.inner_steps 0 reconstructs f(φ_θ); the experiment's own count reproduces its output;
    more steps than trained run (reusing the last rate) and differ."""
    spec = _red_spec(params={"lam": 1000.0})
    out = _train(red_files, spec, "steps")
    state, siren, rates = load_meta_model(out / "model.pt")
    x = {}
    for steps in (None, 0, 4):
        s = {**spec, "eval": {**spec["eval"], "inner_steps": steps}}
        reconstruct(s, red_files, out / f"recon_{steps}.npz", CPU, model_path=out / "model.pt",
                    denoiser_path=red_files / "dncnn.pt")
        x[steps] = load_reconstruction(out / f"recon_{steps}.npz")
    truth = to_tensor(load_split(red_files, "val"), CPU)
    op, y = evaluation_measurement(spec, truth)
    _, solver, eval_solver = solver_parts(spec, CPU, red_files / "dncnn.pt", state["solver_params"])
    start = adapt(siren, rates, y, op, solver, 2, track_meta_gradient=False, final_solver=eval_solver,
                  instruments=True, reduction="sum").instruments.start_output
    recon0, own, more = (x[k].recon.astype(np.float32) for k in (0, None, 4))
    assert np.abs(recon0 - start.permute(0, 2, 3, 1).numpy()).max() < 2e-3  # recon.npz is float16
    assert np.abs(own - recon0).max() > 3e-3 and np.abs(own - more).max() > 1e-3


def test_the_meta_gradient_in_log_lambda_matches_finite_differences():
    torch.manual_seed(0)
    siren = Siren(hidden=8, layers=3, omega0=30.0, generator=torch.Generator().manual_seed(0)).double()
    rates = InnerLearningRates([p.shape for p in siren.params], 2, "meta_sgd", 0.01).double()
    denoiser = DnCNN(channels=3, depth=3, features=4).double().eval().requires_grad_(False)
    with torch.no_grad():  # biases make D non-homogeneous, so σ_f matters (D_σ(x) = D(sx)/s)
        denoiser.body[0].bias.fill_(0.3)
        denoiser.body[-1].bias.fill_(-0.1)
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    op = build_operator({"kind": "blur", "kernel_size": 3, "kernel_std": 0.8, "noise_std": 0.015}, 2, 8, 8)
    y = op.measure(x, torch.Generator().manual_seed(2))
    solver = build_solver({"kind": "red", "steps": 2}, denoiser=denoiser, params={"lam": 2000.0, "sigma_f": 0.03})
    learned = LearnedSolverParameters({"lam": 2000.0, "sigma_f": 0.03}, ["lam", "sigma_f"]).double()

    def loss():
        return outer_loss(adapt(siren, rates, y, op, learned.apply(solver), 2).output, x, "l2")

    params = list(learned.parameters())
    grads = torch.autograd.grad(loss(), params)
    assert all(g.abs() > 1e-6 for g in grads)
    eps = 1e-6
    for p, g in zip(params, grads):
        with torch.no_grad():
            p.add_(eps)
        plus = loss().item()
        with torch.no_grad():
            p.sub_(2 * eps)
        minus = loss().item()
        with torch.no_grad():
            p.add_(eps)
        assert g.item() == pytest.approx((plus - minus) / (2 * eps), rel=1e-5, abs=1e-12)
    assert learned.numbers()["lam"] == pytest.approx(2000.0, rel=1e-6)
    assert learned.numbers()["sigma_f"] == pytest.approx(0.03, rel=1e-6)


def test_a_learned_parameter_needs_a_positive_start():
    with pytest.raises(ValueError, match="positive starting value"):
        LearnedSolverParameters({"lam": 1.0, "sigma_f": None}, ["sigma_f"])
    with pytest.raises(ValueError, match="cannot be learned"):
        LearnedSolverParameters({"relax": 1.0}, ["relax"])
