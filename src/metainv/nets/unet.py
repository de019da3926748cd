"""UNet baseline for inpainting (paper §4.1, Tables 1–2; Ronneberger, Fischer, Brox 2015).

The network body is :class:`deepinv.models.UNet` (maintained, 2-D, zero padding, encoder →
decoder with concatenated skip connections, Conv+BN+ReLU blocks, max-pool down, transposed
up; any H×W, padded internally to a multiple of 2^(scales−1)). Around it, the inpainting
input/output convention:

    input   [Aᵀy, m]                the zero-filled measurement (C channels) and the mask (1);
                                    in general the operator's input image (A⁺y = Aᵀy for the
                                    structured compressed sensing) and a mask of ones
    output  x̂ = Aᵀy + U([Aᵀy, m])   residual to the zero-filled image (Jin et al. 2017)

The mask channel tells the network which zeros are missing pixels, so one model serves any
mask (Table 2: K = 10 … 1000 random pixels or the top half). deepinv's own residual switch
needs in = out channels, so the residual is added here. Trained with L2 to ground truth
(:func:`metainv.train.make_supervised_step`).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from metainv.physics import LinearOperator, Mask


def unet_input(y: torch.Tensor, op: LinearOperator) -> tuple[torch.Tensor, torch.Tensor]:
    """(the operator's input image — zero-filled y for a mask, A⁺y for compressed sensing
    (:meth:`~metainv.physics.LinearOperator.input_image`) — and the mask N×1×H×W) of a batch;
    the mask is all ones for an operator that masks nothing."""
    zero_filled = op.input_image(y)
    shape = (y.shape[0], 1, *zero_filled.shape[-2:])
    if isinstance(op, Mask):
        mask = op.mask.to(y.dtype).expand(shape)
    else:
        mask = torch.ones(shape, dtype=y.dtype, device=y.device)
    return zero_filled, mask


class InpaintingUNet(nn.Module):
    """x̂ = Aᵀy + U([Aᵀy, m]) with U a :class:`deepinv.models.UNet` (C + 1 → C channels).

    Parameters
    ----------
    channels: image channels.
    channels_per_scale: feature maps per stage, shallow to deep (deepinv's default
        64, 128, 256, 512: four stages, three poolings).
    batch_norm: BatchNorm in every conv block (as in deepinv's default).
    start_at_input: zero the last 1×1 convolution, so that x̂ = Aᵀy before training (an
        untrained residual is noise; where the input image is already good, as A⁺y of
        super-resolution, a short training otherwise ends below its input). Only the
        initialisation: a saved model's weights replace it.
    """

    def __init__(self, channels: int = 3, channels_per_scale: Sequence[int] = (64, 128, 256, 512),
                 batch_norm: bool = True, start_at_input: bool = False):
        super().__init__()
        from deepinv.models import UNet

        self.channels = int(channels)
        self.channels_per_scale = [int(c) for c in channels_per_scale]
        self.batch_norm = bool(batch_norm)
        self.net = UNet(in_channels=self.channels + 1, out_channels=self.channels, residual=False,
                        batch_norm=self.batch_norm, channels_per_scale=self.channels_per_scale,
                        device=None)
        if start_at_input:
            last = self.net.Conv_1x1  # deepinv UNet's output layer
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, y: torch.Tensor, op: LinearOperator) -> torch.Tensor:
        zero_filled, mask = unet_input(y, op)
        return zero_filled + self.net(torch.cat([zero_filled, mask], dim=1))

    def hparams(self) -> dict:
        """Constructor arguments, saved with the weights so a file rebuilds its net."""
        return {"channels": self.channels, "channels_per_scale": self.channels_per_scale,
                "batch_norm": self.batch_norm}


__all__ = ["InpaintingUNet", "unet_input"]
