"""Shared fixtures for the solver tests: a small blur problem and a tiny DnCNN."""

import pytest
import torch

from metainv.nets.dncnn import DnCNN
from metainv.physics import Blur, gaussian_kernel


@pytest.fixture
def blur_problem():
    """(x, y, op) for 2 smooth-ish 16×16 colour images blurred by a 5×5 Gaussian, σ = 0.015."""
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(2, 3, 4, 4, generator=gen)
    x = torch.nn.functional.interpolate(base, size=(16, 16), mode="bilinear", align_corners=False)
    op = Blur(gaussian_kernel(5, 1.0), 16, 16, noise_std=0.015)
    y = op.measure(x, gen)
    return x, y, op


@pytest.fixture
def mild_blur_problem():
    """As ``blur_problem`` in float64 with a mild 3×3 blur (std 0.5, |K̂|² ≥ 0.1): the RED
    and HQS maps are then contractions for a near-identity denoiser, so runs to tolerance
    converge and rounding does not grow (what the fixed-point and batching tests need)."""
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(2, 3, 4, 4, generator=gen, dtype=torch.float64)
    x = torch.nn.functional.interpolate(base, size=(16, 16), mode="bilinear", align_corners=False)
    op = Blur(gaussian_kernel(3, 0.5), 16, 16, noise_std=0.015)
    return x, op.measure(x, gen), op


@pytest.fixture
def tiny_dncnn():
    """Untrained 3-layer DnCNN in eval mode (BN running statistics), weights frozen; its
    last layer is scaled down so that D stays near the identity, like a denoiser that
    removes a little (an untrained net at full scale is expansive and RED diverges)."""
    torch.manual_seed(0)
    net = DnCNN(channels=3, depth=3, features=4, noise_level=0.05).eval()
    with torch.no_grad():
        net.body[-1].weight.mul_(0.1)
    net.requires_grad_(False)
    return net
