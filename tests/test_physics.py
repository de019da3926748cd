import pytest
import torch

from metainv.physics import Blur, Mask, build_operator, center_mask, gaussian_kernel, inner_product, random_mask

H, W = 12, 15


def operators():
    g = torch.Generator().manual_seed(3)
    return {
        "inpaint_center": build_operator({"kind": "inpaint_center"}, 4, H, W),
        "inpaint_random": build_operator({"kind": "inpaint_random"}, 4, H, W, g, observed=37),
        "inpaint_random_train": build_operator({"kind": "inpaint_random", "observed_range": [5, 50]}, 4, H, W, g),
        "blur": build_operator({"kind": "blur", "kernel_size": 5, "kernel_std": 1.3}, 4, H, W),
        "blur_asymmetric": Blur(torch.rand(3, 5, dtype=torch.float64), H, W),
    }


@pytest.mark.parametrize("name", list(operators()))
def test_adjoint(name):
    """⟨Ax, y⟩ = ⟨x, Aᵀy⟩ on random inputs, float64."""
    op = operators()[name]
    x = torch.randn(4, 3, H, W, dtype=torch.float64)
    y = torch.randn(4, 3, H, W, dtype=torch.float64)
    lhs, rhs = inner_product(op.forward(x), y), inner_product(x, op.adjoint(y))
    assert torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-10), (lhs, rhs)


def test_center_mask_removes_one_ninth():
    mask = center_mask(129, 129)
    assert mask.shape == (1, 1, 129, 129)
    assert int((mask == 0).sum()) == 43 * 43
    # centred: symmetric under flips
    assert torch.equal(mask, mask.flip(-1)) and torch.equal(mask, mask.flip(-2))
    assert mask[..., 0, :].all() and mask[..., 64, 64] == 0


def test_random_mask_counts_and_seed():
    a = random_mask(5, 32, 32, 500, torch.Generator().manual_seed(1))
    b = random_mask(5, 32, 32, 500, torch.Generator().manual_seed(1))
    c = random_mask(5, 32, 32, 500, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.flatten(1).sum(1).tolist() == [500.0] * 5
    half = random_mask(2, 32, 32, "half")
    assert half[:, :, :16].all() and not half[:, :, 16:].any()


def test_mask_measurement_noise_only_on_observed_pixels():
    op = Mask(center_mask(9, 9), noise_std=0.1)
    y = op.measure(torch.zeros(2, 3, 9, 9), torch.Generator().manual_seed(0))
    assert (y[..., 3:6, 3:6] == 0).all() and y.abs().sum() > 0


def test_blur_kernel_and_noise_statistics():
    k = gaussian_kernel(7, 1.5)
    assert torch.isclose(k.sum(), torch.tensor(1.0, dtype=k.dtype)) and torch.equal(k, k.T)
    op = Blur(k, 64, 64, noise_std=0.05)
    x = torch.rand(8, 3, 64, 64)
    noise = op.measure(x, torch.Generator().manual_seed(0)) - op.forward(x)
    assert abs(noise.std().item() - 0.05) < 0.002
    # a blur keeps constants (kernel sums to 1)
    assert torch.allclose(op.forward(torch.full((1, 1, 64, 64), 0.3)), torch.tensor(0.3), atol=1e-6)


def test_operator_follows_dtype_and_validates():
    op = operators()["blur"]
    assert op.forward(torch.rand(1, 3, H, W, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel(4, 1.0)
    with pytest.raises(ValueError, match="unknown operator"):
        build_operator({"kind": "nope"}, 1, 4, 4)


def test_training_observed_pixel_sampling():
    from metainv.physics import sample_observed

    spec = {"kind": "inpaint_random", "observed_range": [10, 1000], "half_probability": 0.2}
    g = torch.Generator().manual_seed(0)
    draws = [sample_observed(spec, g) for _ in range(4000)]
    half = sum(d == "half" for d in draws) / len(draws)
    ks = torch.tensor([d for d in draws if d != "half"], dtype=torch.float64)
    assert abs(half - 0.2) < 0.03
    assert ks.min() >= 10 and ks.max() <= 1000
    # log-uniform: each decade about equally often
    low, high = ((ks >= 10) & (ks < 100)).float().mean(), ((ks >= 100) & (ks <= 1000)).float().mean()
    assert abs(low - high) < 0.06
    uniform = [sample_observed({**spec, "observed_sampling": "uniform", "half_probability": 0}, g) for _ in range(2000)]
    assert sum(k < 100 for k in uniform) / 2000 < 0.15
    again = [sample_observed(spec, torch.Generator().manual_seed(0)) for _ in range(3)]
    assert again[0] == again[1] == again[2] == draws[0]


def test_mean_reduction_is_independent_of_observed_count():
    from metainv.meta.maml import data_fidelity

    x = torch.full((2, 3, 32, 32), 0.5)
    for k in (10, 1000):
        op = build_operator({"kind": "inpaint_random"}, 2, 32, 32, torch.Generator().manual_seed(0), observed=k)
        y = torch.zeros_like(x)
        assert torch.allclose(data_fidelity(x, y, op, "mean"), torch.tensor(0.25))
        assert torch.allclose(data_fidelity(x, y, op, "sum"), torch.tensor(0.25 * 3 * k))


def test_noise_is_the_same_in_every_precision():
    op = build_operator({"kind": "blur", "kernel_size": 3, "kernel_std": 1.0, "noise_std": 0.1}, 2, 8, 8)
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    y64 = op.measure(x, torch.Generator().manual_seed(4))
    y32 = op.measure(x.float(), torch.Generator().manual_seed(4))
    assert y32.dtype == torch.float32 and torch.allclose(y32.double(), y64, atol=1e-6)
