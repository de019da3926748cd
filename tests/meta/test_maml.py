"""Meta-gradients: finite differences, first vs second order, one outer step, Meta-SGD."""

from functools import partial

import pytest
import torch

from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapt, data_fidelity, outer_loss
from metainv.nets.siren import Siren
from metainv.physics import build_operator
from metainv.solvers.gd import gradient_descent

H = W = 8


def tiny_problem(order="second", scheme="per_step", steps=2, lr=0.05):
    torch.manual_seed(0)
    siren = Siren(hidden=8, layers=3, omega0=30.0, generator=torch.Generator().manual_seed(0)).double()
    rates = InnerLearningRates([p.shape for p in siren.params], steps, scheme, lr).double()
    x = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    op = build_operator({"kind": "inpaint_center"}, 2, H, W)
    y = op.measure(x)
    solver = partial(gradient_descent, step_size=0.9, steps=1)

    def loss():
        # summed inner loss (Eq. 4): strong inner updates at these tiny sizes, so first and
        # second order differ clearly
        result = adapt(siren, rates, y, op, solver, steps, second_order=(order == "second"),
                       reduction="sum")
        return outer_loss(result.output, x, "l2")

    return siren, rates, loss


def flat_grad(loss_fn, params):
    grads = torch.autograd.grad(loss_fn(), params)
    return torch.cat([g.flatten() for g in grads])


def directional_fd(loss_fn, params, direction, eps=1e-6):
    """Central difference of the loss along ``direction`` (a list shaped like params)."""
    def shift(scale):
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(scale * eps * d)

    shift(1)
    plus = loss_fn().item()
    shift(-2)
    minus = loss_fn().item()
    shift(1)
    return (plus - minus) / (2 * eps)


@pytest.mark.parametrize("scheme", ["per_step", "meta_sgd"])
def test_second_order_meta_gradient_matches_finite_differences(scheme):
    siren, rates, loss = tiny_problem("second", scheme)
    params = list(siren.parameters()) + list(rates.parameters())
    grad = flat_grad(loss, params)
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):
        direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
        analytic = torch.dot(grad, torch.cat([d.flatten() for d in direction])).item()
        numeric = directional_fd(loss, params, direction)
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-10)


def test_first_order_differs_from_second_order():
    siren, rates, loss2 = tiny_problem("second")
    _, _, loss1 = tiny_problem("first")
    params = list(siren.parameters())
    g2 = flat_grad(loss2, params)
    siren1, _, loss1 = tiny_problem("first")
    g1 = flat_grad(loss1, list(siren1.parameters()))
    rel = ((g1 - g2).norm() / g2.norm()).item()
    assert rel > 1e-3, f"first-order gradient equals second-order (rel diff {rel:.2e})"
    # ... but is an approximation of it, not an unrelated vector
    assert torch.nn.functional.cosine_similarity(g1, g2, dim=0) > 0.5


def test_one_outer_step_lowers_the_outer_loss():
    siren, rates, loss = tiny_problem("second")
    opt = torch.optim.Adam(list(siren.parameters()) + list(rates.parameters()), lr=1e-4)
    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    after = loss()
    assert after.item() < before.item()


def test_meta_sgd_shapes_gradients_and_reduction_to_per_step():
    siren, rates, loss = tiny_problem("second", "meta_sgd", steps=3, lr=0.02)
    shapes = [p.shape for p in siren.params]
    assert len(rates.rates) == 3 * len(shapes)
    for k in range(3):
        for i, shape in enumerate(shapes):
            assert rates.rates[k * len(shapes) + i].shape == shape
    loss().backward()
    assert all(r.grad is not None and r.grad.abs().sum() > 0 for r in rates.rates)
    # all Meta-SGD rates equal → identical adaptation to the per-step scheme
    s_sgd, r_sgd, l_sgd = tiny_problem("second", "meta_sgd", steps=3, lr=0.02)
    s_ps, r_ps, l_ps = tiny_problem("second", "per_step", steps=3, lr=0.02)
    assert torch.allclose(l_sgd(), l_ps(), rtol=1e-12)


def test_inner_loop_lowers_data_fidelity_and_inference_path_matches():
    siren, rates, _ = tiny_problem("second", steps=3, lr=1e-3)
    x = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    op = build_operator({"kind": "inpaint_center"}, 2, H, W)
    y = op.measure(x)
    solver = partial(gradient_descent, step_size=0.9, steps=1)
    train = adapt(siren, rates, y, op, solver, 3, reduction="sum")
    infer = adapt(siren, rates, y, op, solver, 3, track_meta_gradient=False, reduction="sum")
    assert torch.allclose(train.output, infer.output, atol=1e-12)
    assert not infer.output.requires_grad
    losses = [l.item() for l in train.inner_losses] + [data_fidelity(train.output, y, op).mean().item()]
    assert losses[-1] < losses[0]


def test_outer_loss_kinds():
    a, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    assert outer_loss(a, b, "l2").item() == pytest.approx(0.25)
    assert outer_loss(a, b, "l1").item() == pytest.approx(0.5)
    with pytest.raises(ValueError):
        outer_loss(a, b, "lpips-typo")
