"""RED fixed-point solver: fixed-point equation, closed-form step, batching, gradients."""

import pytest
import torch
from torch import nn

from metainv.nets.dncnn import denoise_at_level
from metainv.physics import Blur, gaussian_kernel
from metainv.solvers.red import red, red_residual, red_step

from .helpers import WithFirstWeight


class ShrinkToMean(nn.Module):
    """A contractive smooth toy denoiser: pulls each pixel halfway to its image's mean."""

    def forward(self, x):
        return 0.5 * x + 0.5 * x.mean(dim=(-1, -2), keepdim=True)


def test_red_step_solves_its_normal_equation(blur_problem, tiny_dncnn):
    """x₊ satisfies (AᵀA/σ² + λI) x₊ = Aᵀy/σ² + λ D(x) to 1e-5 (float64)."""
    x, y, op = (t.double() if torch.is_tensor(t) else t for t in blur_problem)
    net = tiny_dncnn.double()
    lam, sigma_f, sigma = 0.3, 0.03, op.noise_std
    x_next = red_step(y, y, op, net, lam, sigma_f, sigma)
    lhs = op.adjoint(op.forward(x_next)) / sigma**2 + lam * x_next
    rhs = op.adjoint(y) / sigma**2 + lam * denoise_at_level(net, y, sigma_f)
    assert ((lhs - rhs).norm() / rhs.norm()) < 1e-5


@pytest.mark.parametrize("denoiser_kind", ["toy", "dncnn"])
def test_red_converges_to_its_fixed_point(mild_blur_problem, tiny_dncnn, denoiser_kind):
    """Run to tol; the iterate satisfies Aᵀ(Ax − y)/σ² + λ(x − D(x)) = 0 to a small relative
    residual, and the reported step counts are below the cap."""
    x, y, op = mild_blur_problem
    denoiser = ShrinkToMean() if denoiser_kind == "toy" else tiny_dncnn.double()
    # λσ² comparable to the blur's small singular values: RED's map is then a contraction
    out, info = red(None, y, op, denoiser, steps=12, tol=1e-9, max_steps=2000, lam=20.0, sigma_f=0.05,
                    return_info=True)
    assert int(info["steps"].max()) < 2000
    assert float(info["rel_change"].max()) < 1e-9
    assert float(red_residual(out, y, op, denoiser, 20.0, 0.05).max()) < 1e-6
    # and it is not the trivial answer
    assert float(red_residual(y, y, op, denoiser, 20.0, 0.05).min()) > 1e-3


def test_red_fixed_steps_and_x0(blur_problem, tiny_dncnn):
    x, y, op = blur_problem
    one = red(None, y, op, tiny_dncnn, steps=1, lam=0.5, sigma_f=0.05)
    torch.testing.assert_close(one, red_step(y, y, op, tiny_dncnn, 0.5, 0.05, op.noise_std))
    x0 = torch.zeros_like(y)
    from_zero = red(x0, y, op, tiny_dncnn, steps=1, lam=0.5, sigma_f=0.05)
    torch.testing.assert_close(from_zero, red_step(x0, y, op, tiny_dncnn, 0.5, 0.05, op.noise_std))
    assert not torch.allclose(one, from_zero)
    assert red(None, y, op, tiny_dncnn, steps=0) is y


def test_red_is_batched_image_by_image(mild_blur_problem, tiny_dncnn):
    """Solving the batch equals solving each image alone, fixed steps and to tolerance
    (converged images are frozen, so batch-mates do not change an image's answer)."""
    _, y, op = mild_blur_problem
    tiny_dncnn = tiny_dncnn.double()
    for kwargs in ({"steps": 5}, {"steps": 12, "tol": 1e-4, "max_steps": 300}):
        batch = red(None, y, op, tiny_dncnn, lam=5.0, **kwargs)
        single = torch.cat([red(None, y[i : i + 1], op, tiny_dncnn, lam=5.0, **kwargs) for i in range(2)])
        torch.testing.assert_close(batch, single, rtol=1e-10, atol=1e-12)


def test_red_requires_noise():
    op = type("Op", (), {"noise_std": 0.0})()
    with pytest.raises(ValueError, match="noise_std"):
        red(None, torch.zeros(1, 3, 4, 4), op, nn.Identity(), steps=12)


def test_red_gradcheck_through_iterations(tiny_dncnn):
    """gradcheck (float64) w.r.t. x0, y, λ, σ_f and a denoiser weight through 3 RED steps."""
    gen = torch.Generator().manual_seed(1)
    op = Blur(gaussian_kernel(3, 0.8), 4, 4, noise_std=0.05)
    y = torch.rand(2, 3, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    x0 = torch.rand(2, 3, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    lam = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    sigma_f = torch.tensor(0.04, dtype=torch.float64, requires_grad=True)
    net = tiny_dncnn.double()
    weight = net.body[0].weight.detach().clone().requires_grad_(True)

    def run(x0_, y_, lam_, sigma_f_, w_):
        return red(x0_, y_, op, WithFirstWeight(net, w_), steps=3, lam=lam_, sigma_f=sigma_f_)

    assert torch.autograd.gradcheck(run, (x0, y, lam, sigma_f, weight), eps=1e-6, atol=1e-5)


def test_relaxation_keeps_the_fixed_point(mild_blur_problem, tiny_dncnn):
    """θ < 1 (Krasnosel'skii–Mann) converges to the same fixed point as the plain method."""
    _, y, op = mild_blur_problem
    net = tiny_dncnn.double()
    plain = red(None, y, op, net, steps=12, tol=1e-11, max_steps=3000, lam=20.0, sigma_f=0.05)
    relaxed, info = red(None, y, op, net, steps=12, tol=1e-11, max_steps=3000, lam=20.0, sigma_f=0.05, relax=0.5,
                        return_info=True)
    assert int(info["steps"].max()) < 3000
    torch.testing.assert_close(relaxed, plain, rtol=1e-8, atol=1e-9)
    one = red(None, y, op, net, steps=1, lam=20.0, relax=0.25)
    torch.testing.assert_close(one, y + 0.25 * (red(None, y, op, net, steps=1, lam=20.0) - y))
    with pytest.raises(ValueError, match="relax"):
        red(None, y, op, net, steps=12, relax=1.5)
