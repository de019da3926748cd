import math

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


def test_coordinate_grid_spans_unit_square():
    grid = coordinate_grid(4, 6)
    assert grid.shape == (24, 2)
    assert grid.min() == -1 and grid.max() == 1
    assert torch.equal(grid[0], torch.tensor([-1.0, -1.0])) and torch.equal(grid[5], torch.tensor([-1.0, 1.0]))
