"""Unrolled RED(K)/HQS(K): equal to the classical solver at init, gradients reach the DnCNN,
and fine-tuning the DnCNN end to end lowers the L2 error."""

import numpy as np
import pytest
import torch

from metainv.solvers import build_solver
from metainv.solvers.unrolled import UnrolledSolver
from metainv.train import Trainer, make_supervised_step

PARAMS = {"red": {"lam": 2.0, "sigma_f": 0.05, "relax": 1.0},
          "hqs": {"lam": 0.23, "sigma_start": 0.1, "sigma_end": 0.03}}


@pytest.mark.parametrize("method", ["red", "hqs"])
def test_at_init_equals_the_classical_solver(blur_problem, tiny_dncnn, method):
    x, y, op = blur_problem
    unrolled = UnrolledSolver(method, tiny_dncnn, PARAMS[method], steps=5)
    unrolled.train()  # training mode must not switch the DnCNN's BatchNorm to batch statistics
    assert not unrolled.denoiser.training
    expected = build_solver({"kind": method, "steps": 5}, denoiser=tiny_dncnn, params=PARAMS[method])(None, y, op)
    torch.testing.assert_close(unrolled(y, op), expected, rtol=0, atol=0)
    # and the solver did something (not the identity on y)
    assert (expected - y).abs().max() > 1e-3


@pytest.mark.parametrize("method", ["red", "hqs"])
@pytest.mark.parametrize("checkpoint", [False, True])
def test_gradient_reaches_every_dncnn_weight_and_matches_finite_differences(
        blur_problem, tiny_dncnn, method, checkpoint):
    """d/dt L(w + t·v) at t = 0 by autograd equals the central difference (float64), for a
    random direction v over all DnCNN weights; every weight tensor gets a non-zero gradient."""
    x, y, op = (t.double() if torch.is_tensor(t) else t for t in blur_problem)
    net = tiny_dncnn.double().requires_grad_(True)
    unrolled = UnrolledSolver(method, net, PARAMS[method], steps=4, checkpoint_denoiser=checkpoint)
    params = list(net.parameters())

    def loss() -> torch.Tensor:
        return (unrolled(y, op) - x).pow(2).mean()

    grads = torch.autograd.grad(loss(), params)
    assert all(g.abs().sum() > 0 for g in grads)
    gen = torch.Generator().manual_seed(1)
    direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
    analytic = sum((g * d).sum() for g, d in zip(grads, direction))
    eps = 1e-6
    with torch.no_grad():
        for p, d in zip(params, direction):
            p.add_(eps * d)
        plus = loss()
        for p, d in zip(params, direction):
            p.sub_(2 * eps * d)
        minus = loss()
        for p, d in zip(params, direction):
            p.add_(eps * d)
    numeric = (plus - minus) / (2 * eps)
    assert abs(float(analytic - numeric)) <= 1e-6 * abs(float(numeric)) + 1e-12, (analytic, numeric)


@pytest.mark.parametrize("method", ["red", "hqs"])
def test_finetuning_the_dncnn_lowers_the_error_on_held_out_images(tmp_path, tiny_dncnn, method):
    """40 Adam steps on blurred smooth 16² images: the unrolled solver's L2 error on images it
    never trained on falls below that of the same solver with the initial (classical) DnCNN."""
    from metainv.physics import Blur, gaussian_kernel

    def images(n, seed):
        base = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
        x = torch.nn.functional.interpolate(base, size=(16, 16), mode="bilinear", align_corners=False)
        return (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)

    train, held = images(64, 0), images(16, 1)
    op = Blur(gaussian_kernel(5, 1.0), 16, 16, noise_std=0.015)
    net = tiny_dncnn.requires_grad_(True)
    unrolled = UnrolledSolver(method, net, PARAMS[method], steps=4)
    x_held = torch.from_numpy(held).permute(0, 3, 1, 2).float() / 255
    y_held = op.measure(x_held, torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = (unrolled(y_held, op) - x_held).pow(2).mean().item()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    trainer = Trainer({"unrolled": unrolled}, {"adam": opt}, 40, tmp_path / "checkpoint.pt",
                      tmp_path / "log.csv", seed=0, progress=False)
    step = make_supervised_step(unrolled, opt, train, trainer.generator,
                                lambda x, g: (op, op.measure(x, g)), batch_size=8, loss="l2")
    trainer.run(step)
    with torch.no_grad():
        after = (unrolled(y_held, op) - x_held).pow(2).mean().item()
    assert after < 0.8 * before, (before, after)


def test_rejects_unknown_method_and_parameters(tiny_dncnn):
    with pytest.raises(ValueError, match="unknown unrolled method"):
        UnrolledSolver("admm", tiny_dncnn, {}, steps=3)
    with pytest.raises(Exception, match="unknown parameter"):
        UnrolledSolver("red", tiny_dncnn, {"sigma_start": 0.1}, steps=3)
