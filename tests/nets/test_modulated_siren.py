"""FiLM-modulated SIREN (paper §5): z = 0 is the plain SIREN, modulations follow the equations."""

import pytest
import torch

from metainv.nets.modulated_siren import ModulatedSiren
from metainv.nets.siren import Siren, coordinate_grid


def _pair(kind, dtype=torch.float32):
    siren = Siren(hidden=16, layers=4, omega0=30.0, generator=torch.Generator().manual_seed(3)).to(dtype)
    film = ModulatedSiren(hidden=16, layers=4, omega0=30.0, latent_dim=8, kind=kind,
                          generator=torch.Generator().manual_seed(99)).to(dtype)
    with torch.no_grad():  # copy θ; M stays random (non-zero), c stays at its initial 0
        for p, q in zip(film.params, siren.params):
            p.copy_(q)
    return siren, film


@pytest.mark.parametrize("kind", ["shift", "scale_shift"])
def test_zero_latent_reproduces_the_unmodulated_siren_exactly(kind):
    siren, film = _pair(kind)
    assert film.mapping_weight.abs().sum() > 0 and torch.equal(film.mapping_bias, torch.zeros_like(film.mapping_bias))
    params = film.batched(3)
    assert torch.equal(params[film.latent_index], torch.zeros(3, 8))
    assert torch.equal(film.render(params, 7, 5), siren.render(siren.batched(3), 7, 5))
    # ... also for per-task θ that differ between tasks (z still 0)
    theta = [p.detach() + 0.01 * torch.randn(3, *p.shape) for p in siren.params]
    assert torch.equal(film.render(theta + params[len(theta):], 6, 6), siren.render(theta, 6, 6))


def test_same_seed_gives_the_same_theta_as_siren():
    siren = Siren(hidden=16, layers=3, omega0=30.0, generator=torch.Generator().manual_seed(0))
    film = ModulatedSiren(hidden=16, layers=3, omega0=30.0, latent_dim=4, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(p, q) for p, q in zip(siren.params, film.params))


@pytest.mark.parametrize("kind", ["shift", "scale_shift"])
def test_modulations_follow_the_film_equations(kind):
    """h ← sin(ω₀(γ_l ⊙ (W_l h + b_l) + β_l)) with [β; γ − 1] = M z + c, per task, by a loop."""
    _, film = _pair(kind, torch.float64)
    with torch.no_grad():
        film.mapping_bias.normal_(0, 0.05)
    batch, hidden, layers = 2, 16, 4
    params = film.batched(batch)
    z = torch.randn(batch, 8, dtype=torch.float64)
    params[film.latent_index] = z
    coords = coordinate_grid(4, 5, dtype=torch.float64)
    out = film.forward_raw(params, coords)
    for i in range(batch):
        mods = film.mapping_weight @ z[i] + film.mapping_bias
        n_shift = (layers - 1) * hidden
        h = coords
        for layer in range(layers):
            h = h @ film.params[2 * layer].T + film.params[2 * layer + 1]
            if layer < layers - 1:
                beta = mods[layer * hidden:(layer + 1) * hidden]
                gamma = 1 + mods[n_shift + layer * hidden:n_shift + (layer + 1) * hidden] \
                    if kind == "scale_shift" else 1.0
                h = torch.sin(film.omega0 * (gamma * h + beta))
        assert torch.allclose(out[i], h, atol=1e-12)
    # a non-zero latent changes the image: the modulation is not a no-op
    assert not torch.allclose(out, film.forward_raw(film.batched(batch), coords))


def test_parameter_counts_and_validation():
    film = ModulatedSiren(hidden=16, layers=4, omega0=30.0, latent_dim=8, kind="scale_shift")
    assert film.mapping_weight.shape == (2 * 3 * 16, 8)
    assert ModulatedSiren(hidden=16, layers=4, omega0=30.0, latent_dim=8).mapping_weight.shape == (3 * 16, 8)
    with pytest.raises(ValueError):
        ModulatedSiren(hidden=16, layers=4, omega0=30.0, latent_dim=8, kind="scale")
    with pytest.raises(ValueError):
        ModulatedSiren(hidden=16, layers=4, omega0=30.0, latent_dim=0)
