"""DnCNN: layer structure, residual output, input scaling to another noise level."""

import pytest
import torch
from torch import nn

from metainv.nets.dncnn import DnCNN, denoise_at_level, trained_noise_level


def test_layer_structure_matches_the_paper():
    net = DnCNN(channels=3, depth=17, features=64)
    convs = [m for m in net.body if isinstance(m, nn.Conv2d)]
    bns = [m for m in net.body if isinstance(m, nn.BatchNorm2d)]
    relus = [m for m in net.body if isinstance(m, nn.ReLU)]
    assert len(convs) == 17 and len(bns) == 15 and len(relus) == 16
    assert (convs[0].in_channels, convs[0].out_channels) == (3, 64)
    assert (convs[-1].in_channels, convs[-1].out_channels) == (64, 3)
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    # Conv+BN+ReLU blocks in the body; BN makes the conv bias redundant there
    types = [type(m) for m in net.body]
    assert types[:2] == [nn.Conv2d, nn.ReLU] and types[-1] == nn.Conv2d
    assert types[2:-1] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 15
    assert all(c.bias is None for c in convs[1:-1]) and convs[0].bias is not None
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == 3 * 64 * 9 + 64 + 15 * (64 * 64 * 9 + 2 * 64) + 64 * 3 * 9 + 3


def test_output_is_input_minus_predicted_noise():
    net = DnCNN(channels=3, depth=4, features=8).eval()
    y = torch.rand(2, 3, 12, 12)
    torch.testing.assert_close(net(y), y - net.predict_noise(y))
    assert net(y).shape == y.shape
    # the prediction is not trivially zero, so the identity above is a real check
    assert net.predict_noise(y).abs().max() > 0


def test_noise_level_travels_with_the_weights():
    net = DnCNN(depth=3, features=4, noise_level=0.05)
    other = DnCNN(depth=3, features=4, noise_level=0.2)
    other.load_state_dict(net.state_dict())
    assert trained_noise_level(other) == pytest.approx(0.05)
    assert DnCNN(**net.hparams()).hparams() == net.hparams()


def test_denoise_at_level_rescales_the_input():
    """D_σ(x) = D_σ₀(s x)/s with s = σ₀/σ; identity at σ = σ₀; per-image σ broadcasts."""
    net = DnCNN(depth=3, features=4, noise_level=0.05).eval()
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(denoise_at_level(net, x, 0.05), net(x))
    torch.testing.assert_close(denoise_at_level(net, x, 0.025), net(2 * x) / 2)
    per_image = denoise_at_level(net, x, torch.tensor([0.05, 0.1]))
    torch.testing.assert_close(per_image[1:], net(x[1:] / 2) * 2)
    torch.testing.assert_close(per_image[:1], net(x[:1]))
    # a denoiser that records no trained level is used as is
    ident = nn.Identity()
    torch.testing.assert_close(denoise_at_level(ident, x, 0.01), x)


def test_scaling_is_exact_for_a_homogeneous_denoiser():
    """For a positively 1-homogeneous D (bias-free ReLU net), D(s x)/s = D(x): scaling then
    changes nothing, which is why the trick relies on the network *not* being homogeneous
    (its noise estimate depends on the noise amplitude it sees)."""
    net = DnCNN(depth=3, features=4).eval()
    for m in net.modules():
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.zero_()
            m.bias.data.zero_()
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(denoise_at_level(net, x, 0.01), net(x), rtol=1e-5, atol=1e-6)


def _trained_looking(depth: int = 5, features: int = 8, dtype=torch.float32) -> DnCNN:
    """A DnCNN in eval mode whose BatchNorms are not the identity (running statistics and
    affine terms away from 0/1), so folding them is a real change of the weights."""
    net = DnCNN(depth=depth, features=features, noise_level=0.05)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        nn.init.normal_(net.body[-1].weight, std=0.1, generator=g)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(0.2 * torch.randn(n, generator=g))
    return net.to(dtype).eval()


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_folded_dncnn_is_the_same_map_without_batchnorm(dtype, tol):
    from metainv.nets.dncnn import FoldedDnCNN, inference_denoiser

    net = _trained_looking(dtype=dtype)
    folded = inference_denoiser(net)
    assert isinstance(folded, FoldedDnCNN)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert not any(p.requires_grad for p in folded.parameters())
    assert trained_noise_level(folded) == trained_noise_level(net) and folded.sigma0 == net.sigma0
    y = torch.rand(3, 3, 12, 12, dtype=dtype, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = net(y)
        out = folded(y)
        scaled = denoise_at_level(folded, y, 0.02)
        scaled_ref = denoise_at_level(net, y, 0.02)
    assert (ref - y).abs().max() > 1e-2  # the network does something
    assert out.is_contiguous() and out.dtype == dtype
    torch.testing.assert_close(out, ref, atol=tol, rtol=tol)
    torch.testing.assert_close(scaled, scaled_ref, atol=tol, rtol=tol)
    # the gradient to the input is the same too (the solvers may differentiate through it)
    z = y.clone().requires_grad_(True)
    (g_folded,) = torch.autograd.grad(folded(z).square().sum(), z)
    (g_ref,) = torch.autograd.grad(net(z).square().sum(), z)
    torch.testing.assert_close(g_folded, g_ref, atol=10 * tol, rtol=10 * tol)


def test_inference_denoiser_leaves_training_and_other_denoisers_alone():
    from metainv.nets.dncnn import FoldedDnCNN, inference_denoiser

    net = _trained_looking()
    training = net.train()
    assert inference_denoiser(training) is training  # batch statistics: nothing to fold
    ident = nn.Identity()
    assert inference_denoiser(ident) is ident
    folded = FoldedDnCNN(net.eval())
    with pytest.raises(RuntimeError):
        folded.train()
    with pytest.raises(ValueError):
        FoldedDnCNN(net.train())
    # a snapshot: training the source afterwards does not move the fold
    before = folded(torch.ones(1, 3, 8, 8))
    with torch.no_grad():
        net.body[0].weight.add_(1.0)
    torch.testing.assert_close(folded(torch.ones(1, 3, 8, 8)), before)
