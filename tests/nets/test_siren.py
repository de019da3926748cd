import math

import pytest
import torch

from metainv.nets.siren import Siren, coordinate_grid, siren_forward


def test_initialisation_bounds():
    """First layer U(−1/n, 1/n), others U(−√(6/n)/ω₀, √(6/n)/ω₀) (SIREN §3.2)."""
    siren = Siren(hidden=256, layers=5, omega0=30.0, generator=torch.Generator().manual_seed(0))
    bounds = Siren.weight_bounds(2, 256, 5, 30.0)
    weights = list(siren.params)[0::2]
    assert [tuple(w.shape) for w in weights] == [(256, 2), (256, 256), (256, 256), (256, 256), (3, 256)]
    for w, bound in zip(weights, bounds):
        assert w.abs().max() <= bound
        # uniform on [−b, b]: the largest magnitude is close to the bound, std ≈ b/√3
        assert w.abs().max() > 0.9 * bound
        if w.numel() > 1000:
            assert abs(w.std().item() - bound / math.sqrt(3)) < 0.05 * bound
    assert bounds[0] == 0.5 and math.isclose(bounds[1], math.sqrt(6 / 256) / 30)


def test_batched_forward_equals_per_task_loop():
    siren = Siren(hidden=16, layers=4, omega0=30.0, generator=torch.Generator().manual_seed(1)).double()
    batch = 3
    params = [p.detach() + 0.01 * torch.randn(batch, *p.shape, dtype=p.dtype) for p in siren.params]
    coords = coordinate_grid(5, 7, dtype=torch.float64)
    out = siren_forward(params, coords, siren.omega0)
    for i in range(batch):
        h = coords
        layers = len(params) // 2
        for layer in range(layers):
            h = h @ params[2 * layer][i].T + params[2 * layer + 1][i]
            if layer < layers - 1:
                h = torch.sin(siren.omega0 * h)
        assert torch.allclose(out[i], h, atol=1e-12)
    image = siren.render(params, 5, 7)
    assert image.shape == (batch, 3, 5, 7)
    assert torch.allclose(image[1, :, 2, 3], (out[1, 2 * 7 + 3] + 1) / 2)


def test_per_task_and_batched_paths_agree_with_gradients():
    """siren_forward's two paths (one F.linear per task, one baddbmm per layer) give the same
    image, and the same first and second derivatives (the meta-gradient's), with and without
    FiLM scales and shifts."""
    siren = Siren(hidden=8, layers=3, omega0=30.0, generator=torch.Generator().manual_seed(2)).double()
    batch, gen = 3, torch.Generator().manual_seed(3)
    coords = coordinate_grid(4, 5, dtype=torch.float64)

    def leaves(*shapes):
        return [(0.1 * torch.randn(*shape, generator=gen, dtype=torch.float64)).requires_grad_(True)
                for shape in shapes]

    params = [(p.detach().expand(batch, *p.shape) + 0.01 * torch.randn(batch, *p.shape, generator=gen,
                                                                          dtype=p.dtype)).requires_grad_(True)
              for p in siren.params]
    scales = [1.0 + s for s in leaves((batch, 8), (batch, 8))]
    shifts = leaves((batch, 8), (batch, 8))
    for film in ({}, {"scales": scales, "shifts": shifts}):
        out = {}
        for batched in (False, True):
            value = siren_forward(params, coords, siren.omega0, batched=batched, **film).sin().sum()
            first = torch.autograd.grad(value, params, create_graph=True)
            second = torch.autograd.grad(sum(g.pow(2).sum() for g in first), params)
            out[batched] = (value, first, second)
        assert torch.allclose(out[False][0], out[True][0], atol=1e-12)
        for a, b in zip(out[False][1] + out[False][2], out[True][1] + out[True][2]):
            assert torch.allclose(a, b, atol=1e-10)
        assert any(float(g.abs().max()) > 1e-3 for g in out[False][2])
    with pytest.raises(ValueError, match="both scales and shifts"):
        siren_forward(params, coords, siren.omega0, scales=scales)


def test_default_path_is_per_task_on_the_cpu(monkeypatch):
    """On the CPU siren_forward evaluates each task with F.linear (no baddbmm); batched=True
    and Siren.batched_forward switch to baddbmm."""
    calls = []
    real = torch.baddbmm
    monkeypatch.setattr(torch, "baddbmm", lambda *a, **k: calls.append(1) or real(*a, **k))
    siren = Siren(hidden=8, layers=3, omega0=30.0, generator=torch.Generator().manual_seed(4))
    params = siren.batched(2)
    siren.render(params, 3, 3)
    assert calls == []
    siren.batched_forward = True
    siren.render(params, 3, 3)
    assert len(calls) == 3


def test_coordinate_grid_spans_unit_square():
    grid = coordinate_grid(4, 6)
    assert grid.shape == (24, 2)
    assert grid.min() == -1 and grid.max() == 1
    assert torch.equal(grid[0], torch.tensor([-1.0, -1.0])) and torch.equal(grid[5], torch.tensor([-1.0, 1.0]))
