"""LPIPS plumbing. The ImageNet backbone cannot be fetched offline: these tests use a random
trunk (lpips' pnet_rand) and check wiring and gradients only — no LPIPS number is reported."""

import pytest
import torch

from metainv.meta.maml import make_outer_loss
from metainv.perceptual import LPIPSUnavailable, load_lpips


def test_lpips_outer_loss_is_differentiable_and_zero_on_identical_images():
    loss = make_outer_loss("lpips", lpips_random_backbone=True)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    target = torch.rand(2, 3, 32, 32)
    value = loss(x, target)
    value.backward()
    assert value.item() > 0 and x.grad is not None and x.grad.abs().sum() > 0
    assert loss(target, target).item() == pytest.approx(0.0, abs=1e-6)
    assert not any(p.requires_grad for p in loss.parameters())


def test_missing_backbone_names_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(api.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(LPIPSUnavailable, match="vgg16-397923af.pth"):
        load_lpips("vgg")


def test_unknown_losses_fail_early():
    with pytest.raises(ValueError):
        make_outer_loss("l3")
    with pytest.raises(ValueError):
        load_lpips("resnet")
