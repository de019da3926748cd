"""Meta-RED (§4.2): meta-gradients through RED with a DnCNN, frozen or fine-tuned."""

import pytest
import torch

from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapt, outer_loss
from metainv.nets.dncnn import DnCNN
from metainv.nets.siren import Siren
from metainv.physics import build_operator
from metainv.solvers import CheckpointedDenoiser, build_solver

H = W = 8
RED_PARAMS = {"lam": 50.0, "sigma_f": 0.05}


def problem(finetune=False, checkpoint=False):
    torch.manual_seed(0)
    siren = Siren(hidden=8, layers=3, omega0=30.0, generator=torch.Generator().manual_seed(0)).double()
    rates = InnerLearningRates([p.shape for p in siren.params], 2, "meta_sgd", 0.01).double()
    denoiser = DnCNN(channels=3, depth=3, features=4).double().eval()
    denoiser.requires_grad_(finetune)
    x = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    op = build_operator({"kind": "blur", "kernel_size": 3, "kernel_std": 0.8, "noise_std": 0.015}, 2, H, W)
    y = op.measure(x, torch.Generator().manual_seed(2))
    solver = build_solver({"kind": "red", "steps": 2, "checkpoint_denoiser": checkpoint}, denoiser=denoiser,
                         params=RED_PARAMS)

    def loss():
        return outer_loss(adapt(siren, rates, y, op, solver, 2).output, x, "l2")

    return siren, rates, denoiser, loss


def test_meta_red_gradient_matches_finite_differences():
    siren, rates, denoiser, loss = problem(finetune=True)
    params = list(siren.parameters()) + list(rates.parameters()) + list(denoiser.parameters())
    grads = torch.autograd.grad(loss(), params)
    gen = torch.Generator().manual_seed(3)
    for _ in range(2):
        direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
        analytic = sum((g * d).sum() for g, d in zip(grads, direction)).item()
        eps = 1e-6
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(eps * d)
        plus = loss().item()
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.sub_(2 * eps * d)
        minus = loss().item()
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(eps * d)
        assert analytic == pytest.approx((plus - minus) / (2 * eps), rel=1e-5, abs=1e-12)


def test_finetuned_denoiser_receives_gradients_frozen_does_not():
    _, _, denoiser, loss = problem(finetune=True)
    loss().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in denoiser.parameters())
    siren, _, frozen, loss = problem(finetune=False)
    loss().backward()
    assert all(p.grad is None for p in frozen.parameters())
    assert all(p.grad is not None for p in siren.parameters())


def test_activation_checkpointing_keeps_second_order_gradients():
    siren, rates, denoiser, loss = problem(finetune=True)
    params = list(siren.parameters()) + list(rates.parameters()) + list(denoiser.parameters())
    plain = torch.autograd.grad(loss(), params)
    siren_c, rates_c, denoiser_c, loss_c = problem(finetune=True, checkpoint=True)
    params_c = list(siren_c.parameters()) + list(rates_c.parameters()) + list(denoiser_c.parameters())
    checkpointed = torch.autograd.grad(loss_c(), params_c)
    for a, b in zip(plain, checkpointed):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)
    assert CheckpointedDenoiser(denoiser).noise_level == denoiser.noise_level


def test_red_solver_needs_a_denoiser():
    with pytest.raises(ValueError, match="denoiser"):
        build_solver({"kind": "red", "steps": 3})
