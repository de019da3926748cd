"""DnCNN denoiser (Zhang, Zuo, Chen, Meng, Zhang 2017, "Beyond a Gaussian denoiser").

Architecture (paper Fig. 1, colour variant)::

    Conv(C→F, 3×3) + ReLU
    (depth − 2) × [Conv(F→F, 3×3, no bias) + BatchNorm + ReLU]
    Conv(F→C, 3×3)

The body predicts the noise v̂ = R(y) (residual learning); the denoiser returns
D(y) = y − R(y). The network is trained at one noise level σ₀ (``noise_level``, stored as a
buffer so it travels with the weights); :func:`denoise_at_level` applies it at another
level by rescaling the input (see there).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class DnCNN(nn.Module):
    """Residual DnCNN: ``forward(y) = y − R(y)``.

    Parameters
    ----------
    channels: image channels (3 for colour).
    depth: number of convolution layers (17 in the paper for Gaussian denoising).
    features: feature maps of the hidden layers (64 in the paper).
    noise_level: σ₀ the network is (to be) trained at, on the [0, 1] intensity scale.
    """

    def __init__(self, *, depth: int, features: int, channels: int = 3, noise_level: float = 0.05):
        super().__init__()
        if depth < 2:
            raise ValueError(f"DnCNN depth must be ≥ 2, got {depth}")
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 3, padding=1, bias=True), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [
                nn.Conv2d(features, features, 3, padding=1, bias=False),
                nn.BatchNorm2d(features),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(features, channels, 3, padding=1, bias=True))
        self.body = nn.Sequential(*layers)
        self.channels, self.depth, self.features = channels, depth, features
        self.register_buffer("noise_level", torch.tensor(float(noise_level), dtype=torch.float64))
        # σ₀ as a Python float too: reading the buffer (float(tensor)) inside a solver would
        # make the host wait for the GPU at every denoiser call
        self.sigma0 = float(noise_level)
        self._init_weights()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if prefix + "noise_level" in state_dict:  # a CPU tensor here: no device sync
            self.sigma0 = float(state_dict[prefix + "noise_level"])

    def _init_weights(self) -> None:
        """He (Kaiming) initialisation for the hidden convolutions, as in the DnCNN paper."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # the last layer starts near zero (D ≈ identity, loss ≈ σ²/2 at step 0). Measured on
        # CelebA 40×40 patches (depth 8, 48 features, Adam 1e-3, batch 16): PyTorch's default
        # init starts at loss ≈ 0.07 and was still worse than the identity after 125 steps,
        # the near-zero start had gained 0.8 dB by then.
        nn.init.normal_(self.body[-1].weight, std=1e-3)

    def predict_noise(self, y: torch.Tensor) -> torch.Tensor:
        """R(y): the network's estimate of the noise in ``y``."""
        return self.body(y)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y - self.predict_noise(y)

    def hparams(self) -> dict:
        """Constructor arguments, saved with the weights so a checkpoint rebuilds its net."""
        return {"channels": self.channels, "depth": self.depth, "features": self.features,
                "noise_level": float(self.noise_level)}


class FoldedDnCNN(nn.Module):
    """An eval-mode :class:`DnCNN` with each BatchNorm folded into the convolution before it
    (:func:`inference_denoiser`): the same map y − R(y) with one pass fewer over the feature
    maps per hidden layer; on the CPU in float32 the feature maps are channels-last (N×H×W×C
    in memory, the layout oneDNN's convolutions run fastest in), the output contiguous
    N×C×H×W as the input. Its weights are a frozen snapshot of the source network's."""

    def __init__(self, net: DnCNN):
        super().__init__()
        if net.training:
            raise ValueError("BatchNorm folds into the convolutions only in eval mode (running statistics)")
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        modules, layers = list(net.body), []
        with torch.no_grad():
            for i, m in enumerate(modules):
                if isinstance(m, nn.BatchNorm2d):
                    continue
                if isinstance(m, nn.Conv2d) and i + 1 < len(modules) and isinstance(modules[i + 1], nn.BatchNorm2d):
                    m = fuse_conv_bn_eval(m, modules[i + 1])
                else:
                    m = copy.deepcopy(m)
                layers.append(m)
        self.body = nn.Sequential(*layers).requires_grad_(False).eval()
        self.channels, self.depth, self.features = net.channels, net.depth, net.features
        self.register_buffer("noise_level", net.noise_level.detach().clone())
        self.sigma0 = net.sigma0
        self.eval()

    def train(self, mode: bool = True) -> "FoldedDnCNN":
        if mode:
            raise RuntimeError("a FoldedDnCNN is for inference only: train the DnCNN it was folded from")
        return super().train(False)

    def predict_noise(self, y: torch.Tensor) -> torch.Tensor:
        return self.body(y)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.device.type == "cpu" and y.dtype == torch.float32 and y.dim() == 4:
            return y - self.body(y.contiguous(memory_format=torch.channels_last)).contiguous()
        return y - self.body(y)


def inference_denoiser(denoiser: nn.Module) -> nn.Module:
    """The denoiser the classical solvers run (no gradient to its weights): a
    :class:`FoldedDnCNN` of an eval-mode :class:`DnCNN`, anything else (a DnCNN in training
    mode, a wrapped or foreign denoiser) unchanged."""
    if isinstance(denoiser, DnCNN) and not denoiser.training:
        return FoldedDnCNN(denoiser)
    return denoiser


def trained_noise_level(denoiser: nn.Module) -> float | None:
    """σ₀ of a denoiser that records one (a :class:`DnCNN`), else ``None``. Read from the
    Python float ``sigma0`` where there is one (no host-device sync), else the buffer."""
    if getattr(denoiser, "sigma0", None) is not None:
        return float(denoiser.sigma0)
    level = getattr(denoiser, "noise_level", None)
    return None if level is None else float(level)


def denoise_at_level(
    denoiser: nn.Module, x: torch.Tensor, sigma: float | torch.Tensor | None,
) -> torch.Tensor:
    """Apply a denoiser trained at σ₀ to an input whose noise level is ``sigma``.

    D_σ(x) = D_σ₀(s·x) / s with s = σ₀ / σ. Scaling the input by s scales its noise by s,
    so the noise the network sees has exactly the level it was trained on; dividing by s
    maps the estimate back. The cost is that the *signal* leaves the [0, 1] range it was
    trained on (s > 1 for σ < σ₀), which a ReLU/BN network with residual output tolerates
    for moderate s (calibrated on CelebA, see the README). With ``sigma`` None, or a
    denoiser that records no σ₀, the denoiser is applied as is.

    ``sigma`` may be a tensor (a learnable or per-image level, shape N broadcasts over N×C×H×W)
    and the map is differentiable in it.
    """
    sigma0 = trained_noise_level(denoiser)
    if sigma is None or sigma0 is None:
        return denoiser(x)
    if not torch.is_tensor(sigma):  # a Python number stays one: no scalar copy to the device
        scale = sigma0 / float(sigma)
        return denoiser(x * scale) / scale
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if sigma.ndim == 1:
        sigma = sigma.view(-1, 1, 1, 1)
    scale = sigma0 / sigma
    return denoiser(x * scale) / scale


__all__ = ["DnCNN", "FoldedDnCNN", "denoise_at_level", "inference_denoiser", "trained_noise_level"]
