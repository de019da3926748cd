"""The training steps a paper run spends its time in, as a registry the device check times.

Each *step kind* builds one step of one trained experiment at a named size (``paper``: the
sizes of ``config/config.yaml``; ``tiny``: seconds on a CPU, for the test suite) from the
package's own algorithm functions, and returns a :class:`Built`: the step (one optimiser
update), images per step and, for meta-steps, the outer-loss closure and meta-parameters (for
the float64/float32/TF32 meta-gradient check). Other code adds kinds with :func:`register`
(the UNet and unrolled-solver baselines, once they exist)::

    from step_kinds import Built, StepKind, register
    register(StepKind("unet_center", "UNet, centre inpainting 128², batch 32", build_unet_step,
                      config_experiments=("unet_center",)))

``config_experiments`` names the ``config.experiments`` ids a kind's step stands for, which is
how the GPU-hours estimate multiplies FLOPs per step by configured steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from _common import meta_loss_fn, meta_red_loss_fn


@dataclass
class Built:
    step: Callable[[], None]                         # one optimiser update
    images: int                                      # images (tasks) per step
    loss: Callable[[], torch.Tensor] | None = None   # outer loss (meta-steps), for precision
    params: list[torch.Tensor] = field(default_factory=list)  # what the meta-gradient is taken of
    infer: Callable[[], object] | None = None          # inference path on the same batch (evaluation)


@dataclass
class StepKind:
    name: str
    label: str
    build: Callable[[str, torch.device, torch.dtype], Built]   # (size, device, dtype) -> Built
    config_experiments: tuple[str, ...] = ()
    meta_gradient: bool = True   # take part in the float64 / float32 / TF32 comparison


STEP_KINDS: dict[str, StepKind] = {}


def register(kind: StepKind) -> StepKind:
    """Add (or replace) a step kind; the device check times every registered kind."""
    STEP_KINDS[kind.name] = kind
    return kind


def adam_step(loss: Callable[[], torch.Tensor], params: list[torch.Tensor], lr: float = 1e-5) -> Callable[[], None]:
    """zero_grad, backward of the outer loss, Adam update: one outer step of Algorithm 2."""
    opt = torch.optim.Adam(params, lr=lr)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss().backward()
        opt.step()

    return step


# sizes: (resolution, SIREN hidden, SIREN layers, batch) per size name. Paper values are those
# of config/config.yaml (tests/test_device_check.py checks them against it).
SIREN_SIZES = {
    "inpaint_center": {"paper": (128, 256, 5, 5), "tiny": (16, 16, 3, 2)},
    "inpaint_random": {"paper": (32, 256, 5, 5), "tiny": (12, 16, 3, 2)},
    "deblur": {"paper": (64, 256, 5, 3), "tiny": (16, 16, 3, 2)},
}
DNCNN_SIZES = {  # depth, features, meta-RED inner steps m, RED updates f; training batch, patch
    "paper": dict(depth=17, features=64, m=3, f=3, batch=128, patch=40, resolution=64),
    "tiny": dict(depth=3, features=8, m=2, f=2, batch=4, patch=8, resolution=16),
}


def _center(m: int):
    def build(size: str, device: torch.device, dtype: torch.dtype) -> Built:
        res, hidden, layers, batch = SIREN_SIZES["inpaint_center"][size]
        loss, params = meta_loss_fn(res, hidden, layers, m, batch, dtype, device)
        return Built(adam_step(loss, params), batch, loss, params, loss.infer)
    return build


def _random(size: str, device: torch.device, dtype: torch.dtype) -> Built:
    res, hidden, layers, batch = SIREN_SIZES["inpaint_random"][size]
    loss, params = meta_loss_fn(res, hidden, layers, 5, batch, dtype, device,
                                task="inpaint_random", lr_scheme="meta_sgd", observed=min(500, res * res // 2))
    return Built(adam_step(loss, params), batch, loss, params, loss.infer)


def _meta_red(finetune: bool):
    def build(size: str, device: torch.device, dtype: torch.dtype) -> Built:
        res, hidden, layers, batch = SIREN_SIZES["deblur"][size]
        d = DNCNN_SIZES[size]
        loss, params = meta_red_loss_fn(res, hidden, layers, d["depth"], d["features"], d["m"], d["f"], batch,
                                        dtype, device, finetune=finetune, checkpoint=True)
        return Built(adam_step(loss, params), batch, loss, params, loss.infer)
    return build


def _dncnn_train(size: str, device: torch.device, dtype: torch.dtype) -> Built:
    """One step of ``metainv.denoiser.make_denoiser_step``: crops, flips, fresh noise, Adam."""
    from metainv.denoiser import make_denoiser_step
    from metainv.nets.dncnn import DnCNN

    d = DNCNN_SIZES[size]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = DnCNN(depth=d["depth"], features=d["features"]).to(device, dtype)
    images = np.random.default_rng(0).integers(0, 256, (64, d["resolution"], d["resolution"], 3), dtype=np.uint8)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    step = make_denoiser_step(net, opt, images, torch.Generator().manual_seed(0), 0.05, d["batch"], d["patch"], device)
    x = torch.rand(d["batch"], 3, d["resolution"], d["resolution"], generator=torch.Generator().manual_seed(1))
    x = x.to(device, dtype)

    def infer():  # one denoiser call per image at the deblur resolution (RED / HQS updates)
        net.eval()
        with torch.no_grad():
            out = net(x)
        net.train()
        return out

    return Built(lambda: step(0), d["batch"], infer=infer)


for _m in (2, 3, 5, 7):
    register(StepKind(f"table1_m{_m}", f"Table 1: centre inpainting, GD f, per-step rates, m = {_m}",
                      _center(_m), (f"meta_center_m{_m}",)))
register(StepKind("table2", "Table 2: random pixels, no f, Meta-SGD, m = 5", _random, ("meta_random",)))
register(StepKind("meta_red", "Table 3: Meta-RED, DnCNN frozen, m = 3 × f = 3, Meta-SGD",
                  _meta_red(False), ("meta_red_l1", "meta_red_l2", "meta_red_lpips")))
register(StepKind("meta_red_ft", "Table 4: Meta-RED, DnCNN fine-tuned, m = 3 × f = 3",
                  _meta_red(True), ("meta_red_ft_l1", "meta_red_ft_l2", "meta_red_ft_lpips")))
register(StepKind("dncnn_train", "DnCNN prior: one training step (40² crops)", _dncnn_train, ("denoiser",),
                  meta_gradient=False))


def size_note(kind: str, size: str) -> str:
    """The sizes a kind runs at, for the printed tables."""
    if kind.startswith("table1"):
        r, h, l, b = SIREN_SIZES["inpaint_center"][size]
    elif kind == "table2":
        r, h, l, b = SIREN_SIZES["inpaint_random"][size]
    elif kind.startswith("meta_red"):
        r, h, l, b = SIREN_SIZES["deblur"][size]
        d = DNCNN_SIZES[size]
        return f"{r}², {l}×{h}, B={b}, DnCNN {d['depth']}×{d['features']}"
    elif kind == "dncnn_train":
        d = DNCNN_SIZES[size]
        return f"DnCNN {d['depth']}×{d['features']}, {d['batch']}×{d['patch']}²"
    else:
        return ""
    return f"{r}², {l}×{h}, B={b}"
