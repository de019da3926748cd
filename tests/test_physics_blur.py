"""Blur operator (metainv.physics.Blur): FFT convolution, adjoint, closed-form data steps."""

import numpy as np
import pytest
import scipy.ndimage
import torch

from metainv.physics import Blur, build_operator, gaussian_kernel, inner_product


def _random_kernel(size_h: int, size_w: int, seed: int) -> torch.Tensor:
    k = torch.rand(size_h, size_w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return k / k.sum()


@pytest.mark.parametrize("kernel_shape,image_shape", [((5, 5), (16, 16)), ((3, 7), (12, 18)), ((9, 9), (9, 11))])
def test_fft_blur_equals_circular_convolution(kernel_shape, image_shape):
    """A x == scipy.ndimage.convolve(x, k, mode='wrap') per channel (periodic boundary).

    An asymmetric random kernel catches flips/shifts that a Gaussian would hide."""
    kernel = _random_kernel(*kernel_shape, seed=1)
    h, w = image_shape
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ours = Blur(kernel, h, w).forward(x).numpy()
    k = kernel.numpy()
    # scipy centres a kernel of even/odd size at index size//2, as Blur does
    ref = np.stack([
        np.stack([scipy.ndimage.convolve(x[n, c].numpy(), k, mode="wrap") for c in range(3)])
        for n in range(2)
    ])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 1e-4)])
def test_blur_adjoint(dtype, atol):
    """⟨Ax, y⟩ = ⟨x, Aᵀy⟩ for random x, y, with an asymmetric kernel."""
    gen = torch.Generator().manual_seed(3)
    op = Blur(_random_kernel(5, 3, seed=4), 10, 14)
    x = torch.randn(2, 3, 10, 14, generator=gen, dtype=dtype)
    y = torch.randn(2, 3, 10, 14, generator=gen, dtype=dtype)
    lhs, rhs = inner_product(op.forward(x), y), inner_product(x, op.adjoint(y))
    assert abs(float(lhs - rhs)) <= atol * max(1.0, abs(float(lhs)))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("scale,rho", [(1.0, 1e-3), (1.0 / 0.015**2, 0.5), (2.0, torch.tensor([1e-2, 3.0]))])
def test_gram_inverse_solves_normal_equations(scale, rho, dtype):
    """z = (scale·AᵀA + ρI)⁻¹ b satisfies scale·AᵀA z + ρ z = b, with scalar and per-image ρ:
    to 1e-5 relative residual in float64; in float32 to 1e-6·cond (evaluating the residual
    itself cancels ~cond·eps in float32, so a fixed 1e-5 would test rounding, not the solve)."""
    gen = torch.Generator().manual_seed(5)
    op = Blur(gaussian_kernel(7, 1.6), 16, 16)
    b = torch.randn(2, 3, 16, 16, generator=gen, dtype=dtype)
    z = op.gram_inverse(b, rho, scale)
    rho_b = rho.view(-1, 1, 1, 1).to(dtype) if torch.is_tensor(rho) else rho
    residual = scale * op.adjoint(op.forward(z)) + rho_b * z - b
    rel = float((residual.flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).max())
    if dtype == torch.float64:
        assert rel < 1e-5, rel
    else:
        rho_min = float(torch.as_tensor(rho).min())
        cond = (scale * float(op.otf.abs().max()) ** 2 + rho_min) / rho_min
        assert rel < 1e-6 * cond, (rel, cond)


def test_gram_inverse_matches_dense_solve():
    """Against an explicit matrix built column by column from A: (AᵀA + ρI)⁻¹ b."""
    h = w = 6
    op = Blur(_random_kernel(3, 3, seed=6), h, w)
    basis = torch.eye(h * w, dtype=torch.float64).view(h * w, 1, h, w)
    a = op.forward(basis).view(h * w, h * w).T  # column j = A e_j
    b = torch.randn(1, 1, h, w, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    rho = 0.05
    dense = torch.linalg.solve(a.T @ a + rho * torch.eye(h * w, dtype=torch.float64), b.flatten())
    np.testing.assert_allclose(op.gram_inverse(b, rho).flatten().numpy(), dense.numpy(), atol=1e-10)


def test_gaussian_kernel_is_normalised_and_symmetric():
    k = gaussian_kernel(9, 1.2)
    assert k.shape == (9, 9) and abs(float(k.sum()) - 1) < 1e-12
    assert torch.allclose(k, k.T) and torch.allclose(k, k.flip(0)) and int(k.argmax()) == 40
    with pytest.raises(ValueError):
        gaussian_kernel(8, 1.0)


def test_build_blur_operator_and_noise():
    op = build_operator({"kind": "blur", "kernel_size": 7, "kernel_std": 1.0, "noise_std": 0.015}, 4, 32, 32)
    assert isinstance(op, Blur) and op.noise_std == 0.015
    x = torch.full((4, 3, 32, 32), 0.5)
    # a normalised kernel keeps a constant image constant (periodic boundary: no edge darkening)
    torch.testing.assert_close(op.forward(x), x)
    y = op.measure(x, torch.Generator().manual_seed(0))
    assert abs(float((y - x).std()) - 0.015) < 1e-3
