"""Which tensors the inner loop adapts (inner.adapt: all | latent | last), its rates, and the
second-order meta-gradient through a latent-only inner loop (finite differences)."""

from functools import partial

import pytest
import torch

from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapt, adapted_count, adapted_indices, outer_loss, task_shapes
from metainv.meta.model import build_model
from metainv.nets.modulated_siren import ModulatedSiren
from metainv.nets.siren import Siren
from metainv.physics import build_operator
from metainv.solvers.gd import gradient_descent
from test_maml import directional_fd  # the one central-difference helper of tests/meta

H = W = 8
SOLVER = partial(gradient_descent, step_size=0.9, steps=1)


def _spec(kind="none", adapt_="all", scheme="per_step", steps=2, last_layers=1, lr_init=0.05):
    siren = {"hidden": 8, "layers": 3, "omega0": 30.0}
    if kind is not None:
        siren["modulation"] = {"kind": kind, "latent_dim": 6}
    return {"siren": siren, "inner": {"steps": steps, "lr_scheme": scheme, "lr_init": lr_init,
                                      "adapt": adapt_, "last_layers": last_layers}}


def _problem(dtype=torch.float64):
    x = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(1), dtype=dtype)
    op = build_operator({"kind": "inpaint_center"}, 2, H, W)
    return x, op, op.measure(x)


def _model(**kw):
    net, rates = build_model(_spec(**kw), torch.Generator().manual_seed(0))
    return net.double(), rates.double()


@pytest.mark.parametrize("kind,adapt_,last_layers,expected", [
    ("shift", "latent", 1, [8]),   # θ: 0–5, M: 6, c: 7, z: 8
    ("scale_shift", "latent", 1, [8]),
    ("none", "last", 1, [4, 5]),
    ("none", "last", 2, [2, 3, 4, 5]),
    ("shift", "last", 1, [4, 5]),
    ("none", "all", 1, [0, 1, 2, 3, 4, 5]),
    ("shift", "all", 1, list(range(9))),
])
@pytest.mark.parametrize("track", [True, False])
def test_only_the_chosen_tensors_change_in_the_inner_loop(kind, adapt_, last_layers, expected, track):
    net, rates = _model(kind=kind, adapt_=adapt_, last_layers=last_layers)
    assert rates.adapted == tuple(expected)
    x, op, y = _problem()
    start = [p.detach().clone() for p in net.batched(2)]
    result = adapt(net, rates, y, op, SOLVER, 2, track_meta_gradient=track, reduction="sum")
    assert len(result.params) == len(start)
    for i, (before, after) in enumerate(zip(start, result.params)):
        if i in expected:
            assert not torch.equal(before, after.detach()), f"tensor {i} was not adapted"
        else:
            assert torch.equal(before, after.detach()), f"tensor {i} changed but is not adapted"
    # the adapted solution fits the measurement better than the shared initialisation
    assert result.inner_losses[-1] < result.inner_losses[0]


def test_build_model_defaults_are_the_papers_model():
    spec = _spec(kind=None)
    del spec["inner"]["adapt"], spec["inner"]["last_layers"]
    net, rates = build_model(spec, torch.Generator().manual_seed(0))
    assert type(net) is Siren and rates.adapted == tuple(range(6))
    ref = Siren(hidden=8, layers=3, omega0=30.0, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), ref.parameters()))
    ref_rates = InnerLearningRates([p.shape for p in ref.params], 2, "per_step", 0.05)
    assert rates.state_dict().keys() == ref_rates.state_dict().keys()
    film, _ = build_model(_spec(kind="scale_shift", adapt_="latent"))
    assert isinstance(film, ModulatedSiren) and film.kind == "scale_shift" and film.latent_dim == 6


def test_meta_sgd_learns_one_rate_per_latent_dimension_and_step():
    net, rates = _model(kind="shift", adapt_="latent", scheme="meta_sgd", steps=3)
    assert [tuple(r.shape) for r in rates.rates] == [(6,)] * 3
    x, op, y = _problem()
    loss = outer_loss(adapt(net, rates, y, op, SOLVER, 3, reduction="sum").output, x)
    loss.backward()
    assert all(r.grad is not None and r.grad.abs().sum() > 0 for r in rates.rates)
    # θ and the mapping are trained through the latent-only inner loop
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    assert adapted_count(net, rates.adapted) == 6
    assert adapted_count(net, adapted_indices(net, "all")) == sum(s.numel() for s in task_shapes(net))


def test_invalid_choices_are_refused():
    with pytest.raises(ValueError, match="modulated"):
        build_model(_spec(kind="none", adapt_="latent"))
    with pytest.raises(ValueError, match="last_layers"):
        build_model(_spec(adapt_="last", last_layers=4))
    with pytest.raises(ValueError, match="adapt"):
        build_model(_spec(adapt_="first"))
    with pytest.raises(ValueError):
        InnerLearningRates([torch.Size([2])] * 3, 2, adapted=[2, 1])


@pytest.mark.parametrize("kind,scheme", [("shift", "per_step"), ("scale_shift", "meta_sgd")])
def test_second_order_meta_gradient_through_latent_only_loop_matches_finite_differences(kind, scheme):
    net, rates = _model(kind=kind, adapt_="latent", scheme=scheme, steps=2, lr_init=0.5)
    with torch.no_grad():  # a non-zero c, so every term of the mapping is exercised
        net.mapping_bias.normal_(0, 0.01, generator=torch.Generator().manual_seed(2))
    x, op, y = _problem()

    def loss():
        return outer_loss(adapt(net, rates, y, op, SOLVER, 2, reduction="sum").output, x, "l2")

    params = list(net.parameters()) + list(rates.parameters())
    grads = torch.autograd.grad(loss(), params)
    flat = torch.cat([g.flatten() for g in grads])
    # the latent moves enough for second-order terms to matter: first order differs
    first = torch.autograd.grad(
        outer_loss(adapt(net, rates, y, op, SOLVER, 2, second_order=False, reduction="sum").output, x),
        list(net.parameters()))
    n_net = sum(p.numel() for p in net.parameters())
    rel = (torch.cat([g.flatten() for g in first]) - flat[:n_net]).norm() / flat[:n_net].norm()
    assert rel > 1e-4, rel
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):
        direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
        analytic = torch.dot(flat, torch.cat([d.flatten() for d in direction])).item()
        numeric = directional_fd(loss, params, direction)
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-10)
