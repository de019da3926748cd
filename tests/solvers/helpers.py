"""Test helpers shared by the solver tests."""

import torch
from torch import nn


class WithFirstWeight(nn.Module):
    """A DnCNN whose first convolution weight is an explicit input (for gradcheck w.r.t.
    denoiser weights); keeps the wrapped net's trained noise level."""

    def __init__(self, net: nn.Module, weight: torch.Tensor):
        super().__init__()
        self.net, self.weight = net, weight
        self.noise_level = net.noise_level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(self.net, {"body.0.weight": self.weight}, (x,))
