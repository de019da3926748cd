"""HQS (DPIR) solver: schedule, closed-form data step, identity-denoiser reduction, gradients."""

import math

import pytest
import torch
from torch import nn

from metainv.physics import Blur, gaussian_kernel
from metainv.solvers.hqs import DPIR_MIN_NOISE, hqs, hqs_schedule, hqs_step

from .helpers import WithFirstWeight


def test_schedule_is_geometric_with_dpir_rho():
    sigmas, rhos = hqs_schedule(8, 0.015, 0.23, sigma_start=49 / 255)
    assert sigmas[0] == pytest.approx(49 / 255) and sigmas[-1] == pytest.approx(0.015)
    ratios = [b / a for a, b in zip(sigmas, sigmas[1:])]
    assert max(ratios) == pytest.approx(min(ratios)) and max(ratios) < 1
    assert rhos == pytest.approx([0.23 * 0.015**2 / s**2 for s in sigmas])
    # noise-free measurements: σ is floored as in DPIR, so ρ stays positive
    _, rhos0 = hqs_schedule(3, 0.0, 0.23, 0.1, 0.02)
    assert rhos0[-1] == pytest.approx(0.23 * DPIR_MIN_NOISE**2 / 0.02**2)
    assert hqs_schedule(1, 0.015, 0.23, 0.2, 0.03)[0] == [0.03]


def test_data_step_solves_its_normal_equation(blur_problem):
    """z = (AᵀA + ρI)⁻¹(Aᵀy + ρx) ⇒ (AᵀA + ρI) z = Aᵀy + ρx to 1e-5 relative residual."""
    x, y, op = (t.double() if torch.is_tensor(t) else t for t in blur_problem)
    rho = 3e-3
    z = hqs_step(x, op.adjoint(y), op, nn.Identity(), rho, None)
    lhs = op.adjoint(op.forward(z)) + rho * z
    rhs = op.adjoint(y) + rho * x
    assert float((lhs - rhs).norm() / rhs.norm()) < 1e-5


def test_identity_denoiser_gives_regularised_least_squares():
    """With D = identity, one HQS step from x0 is argmin ‖Ax − y‖² + ρ‖x − x0‖², checked
    against a dense solve with the explicit matrix of A."""
    h = w = 6
    op = Blur(gaussian_kernel(3, 0.8), h, w, noise_std=0.02)
    gen = torch.Generator().manual_seed(3)
    y = torch.rand(1, 1, h, w, generator=gen, dtype=torch.float64)
    x0 = torch.rand(1, 1, h, w, generator=gen, dtype=torch.float64)
    lam, sigma1 = 0.5, 0.1
    _, (rho,) = hqs_schedule(1, 0.02, lam, sigma1)
    out = hqs(x0, y, op, nn.Identity(), steps=1, lam=lam, sigma_start=sigma1)
    a = op.forward(torch.eye(h * w, dtype=torch.float64).view(-1, 1, h, w)).view(h * w, h * w).T
    dense = torch.linalg.solve(a.T @ a + rho * torch.eye(h * w, dtype=torch.float64),
                               a.T @ y.flatten() + rho * x0.flatten())
    torch.testing.assert_close(out.flatten(), dense, rtol=1e-9, atol=1e-10)


def test_identity_denoiser_converges_to_least_squares(mild_blur_problem):
    """Iterating the identity-denoiser HQS (a proximal-point method) to tolerance reaches the
    least-squares solution AᵀA x = Aᵀy (A is invertible here)."""
    _, y, op = mild_blur_problem
    # ρ_end = λ = 0.01 ≪ min |K̂|² ≈ 0.1: each step contracts the error by ≲ 0.1
    out, info = hqs(None, y, op, nn.Identity(), steps=4, tol=1e-12, max_steps=500, lam=0.01,
                    sigma_start=0.05, return_info=True)
    assert int(info["steps"].max()) < 500
    ls = op.gram_inverse(op.adjoint(y), 0.0)
    torch.testing.assert_close(out, ls, rtol=1e-7, atol=1e-8)


def test_hqs_fixed_point_with_dncnn(mild_blur_problem, tiny_dncnn):
    """To tolerance with the tiny DnCNN: the result is a fixed point of the final HQS map."""
    _, y, op = mild_blur_problem
    net = tiny_dncnn.double()
    kwargs = dict(lam=0.5, sigma_start=0.1, sigma_end=0.03, schedule_steps=4)
    out, info = hqs(None, y, op, net, steps=4, tol=1e-10, max_steps=500, return_info=True, **kwargs)
    assert int(info["steps"].min()) > 4 and int(info["steps"].max()) < 500
    sigmas, rhos = hqs_schedule(4, op.noise_std, 0.5, 0.1, 0.03)
    again = hqs_step(out, op.adjoint(y), op, net, rhos[-1], sigmas[-1])
    assert float(((again - out).flatten(1).norm(dim=1) / out.flatten(1).norm(dim=1)).max()) < 1e-9


def test_hqs_fixed_steps_follow_the_schedule(blur_problem, tiny_dncnn):
    _, y, op = blur_problem
    sigmas, rhos = hqs_schedule(3, op.noise_std, 0.23, 0.2, 0.03)
    aty = op.adjoint(y)
    manual = y
    for s, r in zip(sigmas, rhos):
        manual = hqs_step(manual, aty, op, tiny_dncnn, r, s)
    out = hqs(None, y, op, tiny_dncnn, steps=3, lam=0.23, sigma_start=0.2, sigma_end=0.03)
    torch.testing.assert_close(out, manual)
    # beyond the schedule the final level is held
    manual5 = hqs_step(hqs_step(manual, aty, op, tiny_dncnn, rhos[-1], sigmas[-1]), aty, op, tiny_dncnn,
                       rhos[-1], sigmas[-1])
    out5 = hqs(None, y, op, tiny_dncnn, steps=5, schedule_steps=3, lam=0.23, sigma_start=0.2, sigma_end=0.03)
    torch.testing.assert_close(out5, manual5)


def test_hqs_is_batched_image_by_image(mild_blur_problem, tiny_dncnn):
    _, y, op = mild_blur_problem
    net = tiny_dncnn.double()
    for kwargs in ({"steps": 6}, {"steps": 3, "tol": 1e-6, "max_steps": 200}):
        batch = hqs(None, y, op, net, lam=0.5, sigma_start=0.1, **kwargs)
        single = torch.cat([hqs(None, y[i : i + 1], op, net, lam=0.5, sigma_start=0.1, **kwargs) for i in range(2)])
        torch.testing.assert_close(batch, single, rtol=1e-10, atol=1e-12)


def test_hqs_gradcheck_through_iterations(tiny_dncnn):
    """gradcheck (float64) w.r.t. x0, y, λ and a denoiser weight through 3 HQS steps."""
    gen = torch.Generator().manual_seed(2)
    op = Blur(gaussian_kernel(3, 0.8), 4, 4, noise_std=0.05)
    y = torch.rand(2, 3, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    x0 = torch.rand(2, 3, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    lam = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    net = tiny_dncnn.double()
    weight = net.body[0].weight.detach().clone().requires_grad_(True)

    def run(x0_, y_, lam_, w_):
        return hqs(x0_, y_, op, WithFirstWeight(net, w_), steps=3, lam=lam_, sigma_start=0.1, sigma_end=0.04)

    assert torch.autograd.gradcheck(run, (x0, y, lam, weight), eps=1e-6, atol=1e-5)


def test_relaxation_only_after_the_schedule(blur_problem, tiny_dncnn):
    _, y, op = blur_problem
    kwargs = dict(lam=0.23, sigma_start=0.2, sigma_end=0.03)
    torch.testing.assert_close(hqs(None, y, op, tiny_dncnn, steps=3, relax=0.5, **kwargs),
                               hqs(None, y, op, tiny_dncnn, steps=3, **kwargs))
    sched = hqs(None, y, op, tiny_dncnn, steps=3, **kwargs)
    sigmas, rhos = hqs_schedule(3, op.noise_std, 0.23, 0.2, 0.03)
    full = hqs_step(sched, op.adjoint(y), op, tiny_dncnn, rhos[-1], sigmas[-1])
    torch.testing.assert_close(hqs(None, y, op, tiny_dncnn, steps=4, schedule_steps=3, relax=0.5, **kwargs),
                               sched + 0.5 * (full - sched))
    with pytest.raises(ValueError, match="relax"):
        hqs(None, y, op, tiny_dncnn, steps=12, relax=0.0)


@pytest.mark.parametrize("kind", ["hqs", "red"])
def test_batched_classical_solves_run_the_folded_denoiser_and_give_the_same_images(kind, blur_problem, monkeypatch):
    """Solver.solve_in_batches (every classical reconstruction, tuning and step curve) runs
    the DnCNN with its BatchNorm folded into the convolutions: the same images as the
    DnCNN as trained (float64: in float32 RED's own rounding, e.g. batch 1 against 2, is
    ~1e-4), and the network it was given is untouched."""
    from metainv.nets import dncnn
    from metainv.solvers import build_solver

    _, y, op = blur_problem
    y = y.double()
    net = dncnn.DnCNN(depth=4, features=8, noise_level=0.05)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        nn.init.normal_(net.body[-1].weight, std=0.05, generator=g)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    net.double().eval().requires_grad_(False)
    params = ({"lam": 0.23, "sigma_start": 0.1, "sigma_end": 0.03} if kind == "hqs"
              else {"lam": 5.0, "sigma_f": 0.05})
    solver = build_solver({"kind": kind, "steps": 3, "params": params}, denoiser=net, fold_frozen_denoiser=False)
    with torch.no_grad():
        as_trained = solver.run(None, y, op)[0]
    calls = []
    forward = dncnn.FoldedDnCNN.forward
    monkeypatch.setattr(dncnn.FoldedDnCNN, "forward", lambda self, v: calls.append(1) or forward(self, v))
    x, counts = solver.solve_in_batches(y, op, batch_size=1)
    assert len(calls) == 3 * len(y) and solver.denoiser is net
    assert counts.tolist() == [3, 3]
    assert (as_trained - y).abs().max() > 1e-3
    torch.testing.assert_close(x, as_trained, atol=1e-10, rtol=1e-10)
