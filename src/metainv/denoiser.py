"""Training the DnCNN prior at one noise level (paper Sec. 4.2: σ = 5 % on CelebA).

Per step: a batch of training images (uniformly drawn), one random crop of
``patch_size`` per image, one random dihedral transform (flips / 90° rotations) per image,
fresh Gaussian noise n ~ N(0, σ₀² I), and the residual-learning loss of DnCNN

    L = ½ · mean ‖R(x + n) − n‖²  =  ½ · mean ‖D(x + n) − x‖²,

minimised with Adam. Everything random is drawn from the trainer's generator, so a resumed
run continues with the same batches as an uninterrupted one. The loop itself (checkpoint,
resume, NaN stop, CSV log) is :class:`metainv.train.Trainer`; the stage that runs it is
:mod:`metainv.stages.train_denoiser`. This module owns the DnCNN ``model.pt`` format
(:func:`save_denoiser` / :func:`load_denoiser`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from metainv import atomic
from metainv.data.store import to_tensor
from metainv.metrics import psnr_torch as psnr

log = logging.getLogger(__name__)


def random_dihedral(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply one of the 8 flips/rotations of the square, chosen per image, to N×C×H×W.

    Composed of three independent coin flips (transpose, vertical flip, horizontal flip),
    each applied per image with ``torch.where`` — no loop over images.
    """
    n = x.shape[0]
    coins = torch.rand(3, n, generator=generator).lt(0.5).to(x.device).view(3, n, 1, 1, 1)
    if x.shape[-1] == x.shape[-2]:
        x = torch.where(coins[0], x.transpose(-1, -2), x)
    x = torch.where(coins[1], x.flip(-2), x)
    x = torch.where(coins[2], x.flip(-1), x)
    return x


def random_crops(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """One random size×size crop per image of N×C×H×W (gathered, no loop over images)."""
    n, _, h, w = x.shape
    if size >= h and size >= w:
        return x
    size = min(size, h, w)
    top = torch.randint(0, h - size + 1, (n,), generator=generator).to(x.device)
    left = torch.randint(0, w - size + 1, (n,), generator=generator).to(x.device)
    offs = torch.arange(size, device=x.device)
    rows = (top[:, None] + offs)[:, :, None]  # N×S×1
    cols = (left[:, None] + offs)[:, None, :]  # N×1×S
    batch = torch.arange(n, device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # N×C×S×S


def make_denoiser_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_images: np.ndarray,
    generator: torch.Generator,
    noise_std: float,
    batch_size: int,
    patch_size: int,
    device: torch.device | str = "cpu",
    lr_at: Callable[[int], float] | None = None,
) -> Callable[[int], Mapping[str, float]]:
    """``step_fn(step)`` for :class:`metainv.train.Trainer`: one Adam update of DnCNN.

    ``train_images`` is uint8 N×H×W×C (the store's format); batches are converted to
    float on the fly so the whole split never needs to live on the device as float32.
    ``lr_at(step)`` sets the learning rate from the step number alone (no scheduler
    state, so a resumed run follows the same schedule).
    """
    n_images = len(train_images)

    def step(step_index: int) -> Mapping[str, float]:
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step_index)
        idx = torch.randint(0, n_images, (batch_size,), generator=generator).numpy()
        x = to_tensor(train_images[np.sort(idx)], device)
        x = random_dihedral(random_crops(x, patch_size, generator), generator)
        noise = noise_std * torch.randn(x.shape, generator=generator).to(device)
        residual = net.predict_noise(x + noise) if hasattr(net, "predict_noise") else (x + noise) - net(x + noise)
        loss = 0.5 * (residual - noise).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "train_psnr_gain": -10 * math.log10(2 * loss.item() / noise_std**2)}

    return step


@torch.no_grad()
def evaluate_denoiser(
    net: nn.Module, images: torch.Tensor, noise_std: float, seed: int, batch_size: int = 64,
) -> dict[str, float]:
    """Mean PSNR of noisy input and of D(noisy) on ``images`` (N×C×H×W in [0, 1]).

    The noise is drawn from a fixed seed so successive evaluations see the same images.
    """
    gen = torch.Generator().manual_seed(int(seed))
    noise = noise_std * torch.randn(images.shape, generator=gen).to(images.device)
    was_training = net.training
    net.eval()
    noisy_psnr, denoised_psnr = [], []
    for start in range(0, len(images), batch_size):  # memory chunks, not a per-image loop
        x = images[start : start + batch_size]
        y = x + noise[start : start + batch_size]
        noisy_psnr.append(psnr(y, x))
        denoised_psnr.append(psnr(net(y), x))
    net.train(was_training)
    return {
        "noisy_psnr": torch.cat(noisy_psnr).mean().item(),
        "denoised_psnr": torch.cat(denoised_psnr).mean().item(),
    }


def save_denoiser(net: nn.Module, path: str | Path, **extra) -> None:
    """Weights + constructor arguments (``hparams``) in one file, written atomically."""
    atomic.torch_save({"hparams": net.hparams(), "state_dict": net.state_dict(), **extra}, path)


def load_denoiser(path: str | Path, device: torch.device | str = "cpu", trainable: bool = False) -> nn.Module:
    """Rebuild a :class:`~metainv.nets.dncnn.DnCNN` saved by :func:`save_denoiser`.

    Returned in eval mode (BatchNorm uses its running statistics, as a prior must); with
    ``trainable=False`` its weights are frozen (``requires_grad=False``), which still lets
    gradients flow *through* it to the solver's input.
    """
    from metainv.nets.dncnn import DnCNN
    from metainv.train import load_tensors

    blob = load_tensors(path)  # weights only: a file that would run code is refused
    net = DnCNN(**blob["hparams"])
    net.load_state_dict(blob["state_dict"])
    net.to(device).eval()
    net.requires_grad_(trainable)
    return net


__all__ = [
    "random_dihedral", "random_crops", "make_denoiser_step", "evaluate_denoiser",
    "save_denoiser", "load_denoiser",
]
