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
