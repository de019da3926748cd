"""Parameter search for RED / HQS: grid, dispatch, choice of the best combination."""

import pytest
import torch

from metainv.errors import ConfigError
from metainv.solvers import build_solver, check_params
from metainv.solvers.hqs import hqs
from metainv.solvers.red import red
from metainv.solvers.tuning import grid_edges, grid_search, parameter_grid


def test_parameter_grid_is_the_cartesian_product_over_the_base():
    grid = parameter_grid({"lam": 1, "sigma_f": 0.05}, {"lam": [1, 2], "relax": [0.5, 1.0]})
    assert len(grid) == 4
    assert {(g["lam"], g["relax"]) for g in grid} == {(1, 0.5), (1, 1.0), (2, 0.5), (2, 1.0)}
    assert all(g["sigma_f"] == 0.05 for g in grid)
    assert parameter_grid({"lam": 3}, {}) == [{"lam": 3}]


def test_unknown_parameters_and_methods_are_rejected_naming_the_key():
    with pytest.raises(ConfigError, match=r"classical\.params.*sigma_start"):
        check_params("red", {"lam": 1, "sigma_start": 0.1}, key="classical.params")
    with pytest.raises(ConfigError, match="admm"):
        check_params("admm", {})
    with pytest.raises(ConfigError, match="sigma_f"):
        check_params("red", {"lam": 1}, complete=True)
    with pytest.raises(ConfigError, match="sigma_start"):
        build_solver({"kind": "red", "steps": 2, "params": {"sigma_start": 0.1}}, denoiser=torch.nn.Identity())


def test_build_solver_dispatches_with_the_schedule_over_steps(blur_problem, tiny_dncnn):
    _, y, op = blur_problem
    red_solver = build_solver({"kind": "red", "steps": 3}, denoiser=tiny_dncnn, params={"lam": 50.0, "sigma_f": 0.04})
    torch.testing.assert_close(red_solver(None, y, op), red(None, y, op, tiny_dncnn, steps=3, lam=50.0, sigma_f=0.04))
    p = {"lam": 0.3, "sigma_start": 0.2, "sigma_end": 0.03}
    hqs_solver = build_solver({"kind": "hqs", "steps": 4, "params": p}, denoiser=tiny_dncnn)
    torch.testing.assert_close(hqs_solver(None, y, op), hqs(None, y, op, tiny_dncnn, steps=4, schedule_steps=4, **p))


def test_build_solver_folds_a_frozen_dncnn_only(mild_blur_problem, tiny_dncnn):
    """A DnCNN with frozen weights runs folded (Meta-RED's f: gradients reach its input, with
    the same first and second derivatives as the unfolded net); a trainable one (fine-tuned,
    unrolled) runs as given, and so does any denoiser with fold_frozen_denoiser=False."""
    import copy

    from metainv.nets.dncnn import DnCNN, FoldedDnCNN
    from metainv.solvers import CheckpointedDenoiser

    config = {"kind": "red", "steps": 2, "params": {"lam": 50.0, "sigma_f": 0.04}}
    assert isinstance(build_solver(config, denoiser=tiny_dncnn).denoiser, FoldedDnCNN)
    assert build_solver(config, denoiser=tiny_dncnn, fold_frozen_denoiser=False).denoiser is tiny_dncnn
    trainable = copy.deepcopy(tiny_dncnn).requires_grad_(True)
    assert build_solver(config, denoiser=trainable).denoiser is trainable
    wrapped = build_solver({**config, "checkpoint_denoiser": True}, denoiser=tiny_dncnn).denoiser
    assert isinstance(wrapped, CheckpointedDenoiser) and isinstance(wrapped.net, FoldedDnCNN)
    net = DnCNN(channels=3, depth=3, features=4, noise_level=0.05).double().eval().requires_grad_(False)
    _, y, op = mild_blur_problem
    grads = []
    for fold in (True, False):
        solver = build_solver(config, denoiser=net, fold_frozen_denoiser=fold)
        x0 = torch.rand(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(5)).requires_grad_(True)
        (first,) = torch.autograd.grad(solver(x0, y, op).square().sum(), x0, create_graph=True)
        (second,) = torch.autograd.grad(first.square().sum(), x0)
        grads.append((first, second))
    assert float(grads[0][1].abs().max()) > 0
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)


def test_build_solver_runs_to_tolerance_and_reports_iterations(blur_problem, tiny_dncnn):
    _, y, op = blur_problem
    config = {"kind": "red", "steps": 12, "tol": 1e-3, "max_steps": 40, "params": {"lam": 50.0, "sigma_f": 0.04}}
    solver = build_solver(config, denoiser=tiny_dncnn)
    x, info = solver.run(None, y, op)
    ref, ref_info = red(None, y, op, solver.denoiser, steps=12, tol=1e-3, max_steps=40, lam=50.0, sigma_f=0.04, return_info=True)
    torch.testing.assert_close(x, ref)
    assert torch.equal(info["steps"], ref_info["steps"]) and int(info["steps"].max()) <= 40


def test_grid_search_marks_the_best_mean_psnr(blur_problem, tiny_dncnn):
    x, y, op = blur_problem
    frame = grid_search({"kind": "red", "steps": 4, "tol": None, "max_steps": 10}, x, y, op, tiny_dncnn,
                        {"lam": 1.0, "sigma_f": 0.05}, {"lam": [1e-3, 50.0, 5e3]}, batch_size=1)
    assert len(frame) == 3 and frame.chosen.sum() == 1
    assert frame[frame.chosen].psnr_mean.item() == frame.psnr_mean.max()
    # λ → 0 is plain deconvolution (noise blows up): never the best here
    assert frame[frame.chosen].lam.item() != 1e-3
    assert (frame.iterations_mean == 4).all()


def test_grid_edges_flag_winners_at_the_end_of_a_searched_range():
    grid = {"lam": [100, 200, 500], "sigma_f": [0.03, 0.05], "relax": [0.5]}
    assert grid_edges({"lam": 200, "sigma_f": 0.05, "relax": 0.5}, grid) == "sigma_f:highest"
    assert grid_edges({"lam": 100, "sigma_f": 0.03, "relax": 0.5}, grid) == "lam:lowest;sigma_f:lowest"
    assert grid_edges({"lam": 200, "relax": 0.5}, {"lam": [100, 200, 500], "relax": [0.5]}) == ""


def test_grid_search_warns_when_the_winner_sits_on_the_edge(blur_problem, tiny_dncnn, caplog):
    x, y, op = blur_problem
    config = {"kind": "red", "steps": 4, "tol": None, "max_steps": 10}
    with caplog.at_level("WARNING", logger="metainv.solvers.tuning"):
        frame = grid_search(config, x, y, op, tiny_dncnn, {"lam": 1.0, "sigma_f": 0.05},
                            {"lam": [1e-3, 1e-2]}, batch_size=1)  # both far too small: 1e-2 wins
    assert frame[frame.chosen].edge.item() == "lam:highest"
    assert "edge of the grid" in caplog.text
