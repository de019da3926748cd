"""LPIPS (Zhang et al. 2018) through the ``lpips`` package: outer loss and (later) metric.

LPIPS compares deep features of an ImageNet-trained backbone (AlexNet or VGG16) weighted by
linear layers calibrated on human judgments. The linear layers ship inside ``lpips``; the
backbones come from torchvision, which looks for them in ``<torch hub dir>/checkpoints/``
before downloading. Where neither the file nor the internet is there, :func:`load_lpips`
raises :class:`LPIPSUnavailable` saying which file to place where; results then mark LPIPS
as unavailable. ``random_backbone=True`` (lpips' ``pnet_rand``) builds the same network
with a random trunk — for plumbing tests only, never for reported numbers.
"""

from __future__ import annotations

import torch
from torch import nn

from metainv.errors import MetainvError

# torchvision's file names of the ImageNet weights lpips loads (torch.hub cache)
BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


class LPIPSUnavailable(MetainvError, RuntimeError):
    """The ImageNet backbone of LPIPS could not be loaded (offline, file not placed)."""


def load_lpips(net: str = "vgg", device: torch.device | str = "cpu", random_backbone: bool = False) -> nn.Module:
    """A frozen LPIPS module in eval mode (inputs in [−1, 1])."""
    import lpips

    if net not in BACKBONE_FILES:
        raise ValueError(f"LPIPS net must be one of {sorted(BACKBONE_FILES)}, got {net!r}")
    try:
        model = lpips.LPIPS(net=net, pnet_rand=random_backbone, verbose=False)
    except Exception as e:  # urllib/HTTP/OS errors from torchvision's download
        target = f"{torch.hub.get_dir()}/checkpoints/{BACKBONE_FILES[net]}"
        raise LPIPSUnavailable(
            f"LPIPS ({net}) needs torchvision's ImageNet {net} weights, which could not be "
            f"loaded ({type(e).__name__}: {e}). Place the file at {target} (torchvision "
            f"downloads it there when online) and rerun."
        ) from e
    model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class LPIPSLoss(nn.Module):
    """Mean LPIPS distance between images in [0, 1], mapped to [−1, 1] by x ↦ 2x − 1.

    Inputs are not clamped: clamping would zero the gradient of exactly the pixels that stray
    outside [0, 1], which the outer loss should pull back (the backbone is defined on all reals).
    """

    def __init__(self, net: str = "vgg", device: torch.device | str = "cpu", random_backbone: bool = False):
        super().__init__()
        self.model = load_lpips(net, device, random_backbone)

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.model(2 * x - 1, 2 * target - 1).mean()
