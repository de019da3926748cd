"""The training steps a paper run spends its time in, as a registry the device check times.

Each *step kind* builds one step of one configured experiment — at the sizes of the resolved
configuration it is given (``config/config.yaml`` for the paper's; merged with
``benchmarks/tiny.yaml`` for seconds on a CPU) — from the package's own functions
(:func:`_common.meta_problem`: ``build_model``, ``measure``, ``build_solver``, ``adapt``,
``make_outer_loss``), and returns a :class:`Built`: the step (one optimiser update), images per
step and, for meta-steps, the outer-loss closure and meta-parameters (for the
float64/float32/TF32 meta-gradient check). Other code adds kinds with :func:`register`::

    from step_kinds import Built, StepKind, register
    register(StepKind("unet_center", "UNet, centre inpainting", build_unet_step,
                      config_experiments=("unet_center",)))

``config_experiments`` names the ``config.experiments`` ids a kind's step stands for, which is
how the GPU-hours estimate multiplies FLOPs per step by configured steps; the first is the
experiment whose spec the step is built from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from _common import build_denoiser, describe, meta_problem
from metainv.config import Resolved, denoiser_spec


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
    build: Callable[[Resolved, torch.device, torch.dtype], Built]   # (resolved config, device, dtype) -> Built
    config_experiments: tuple[str, ...] = ()
    meta_gradient: bool = True   # take part in the float64 / float32 / TF32 comparison

    @property
    def experiment(self) -> str:
        """The experiment (or ``denoiser``) whose configured sizes the step runs at."""
        return self.config_experiments[0]


STEP_KINDS: dict[str, StepKind] = {}


def register(kind: StepKind) -> StepKind:
    """Add (or replace) a step kind; the device check times every registered kind."""
    STEP_KINDS[kind.name] = kind
    return kind


def _meta(eid: str):
    def build(resolved: Resolved, device: torch.device, dtype: torch.dtype) -> Built:
        problem = meta_problem(resolved, eid, device, dtype)
        return Built(problem.optimiser_step(), problem.images, problem.loss, problem.params, problem.infer)
    return build


def _dncnn_train(resolved: Resolved, device: torch.device, dtype: torch.dtype) -> Built:
    """One step of ``metainv.denoiser.make_denoiser_step`` (``config.denoiser``'s batch, crops
    and noise level): crops, flips, fresh noise, Adam."""
    from metainv.denoiser import make_denoiser_step

    d = denoiser_spec(resolved.config)
    net = build_denoiser(resolved, device, dtype).train()
    res = int(d["resolution"])
    images = np.random.default_rng(0).integers(0, 256, (64, res, res, 3), dtype=np.uint8)
    opt = torch.optim.Adam(net.parameters(), lr=float(d["lr"]))
    step = make_denoiser_step(net, opt, images, torch.Generator().manual_seed(0), float(d["noise_std"]),
                              int(d["batch_size"]), int(d["patch_size"]), device)
    x = torch.rand(int(d["batch_size"]), 3, res, res, generator=torch.Generator().manual_seed(1)).to(device, dtype)

    def infer():  # one denoiser call per image at the deblur resolution (RED / HQS updates)
        net.eval()
        with torch.no_grad():
            out = net(x)
        net.train()
        return out

    return Built(lambda: step(0), int(d["batch_size"]), infer=infer)


for _m in (2, 3, 5, 7):
    register(StepKind(f"table1_m{_m}", f"Table 1: centre inpainting, GD f, per-step rates, m = {_m}",
                      _meta(f"meta_center_m{_m}"), (f"meta_center_m{_m}",)))
register(StepKind("table2", "Table 2: random pixels, no f, Meta-SGD", _meta("meta_random"), ("meta_random",)))
register(StepKind("meta_red", "Table 3: Meta-RED, DnCNN frozen, Meta-SGD", _meta("meta_red_l2"),
                  ("meta_red_l2", "meta_red_l1", "meta_red_lpips")))
register(StepKind("meta_red_ft", "Table 4: Meta-RED, DnCNN fine-tuned", _meta("meta_red_ft_l2"),
                  ("meta_red_ft_l2", "meta_red_ft_l1", "meta_red_ft_lpips")))
register(StepKind("meta_cs", "Table 5: compressed sensing (deepinv StructuredRandom), GD f, m = 3",
                  _meta("meta_cs"), ("meta_cs",)))
register(StepKind("meta_sr", "Table 6: ×4 super-resolution (deepinv Downsampling), GD f, m = 3",
                  _meta("meta_sr"), ("meta_sr",)))
register(StepKind("meta_mri", "Table 7: MRI-style Cartesian undersampling (deepinv MRI), GD f, m = 3",
                  _meta("meta_mri"), ("meta_mri", "meta_mri_8x")))
register(StepKind("meta_film", "Tables 1–2 (not in the paper): Meta-FiLM, latent-only inner loop",
                  _meta("meta_film_center"), ("meta_film_center", "meta_film_random")))
register(StepKind("meta_red_film", "Table 3 (not in the paper): Meta-RED-FiLM, latent-only inner loop",
                  _meta("meta_red_film"), ("meta_red_film",)))
register(StepKind("meta_film_cs", "Table 5 (not in the paper): Meta-FiLM, compressed sensing, latent-only inner loop",
                  _meta("meta_film_cs"), ("meta_film_cs",)))
register(StepKind("meta_film_sr", "Table 6 (not in the paper): Meta-FiLM, ×4 super-resolution, latent-only inner loop",
                  _meta("meta_film_sr"), ("meta_film_sr",)))
register(StepKind("meta_film_mri", "Table 7 (not in the paper): Meta-FiLM, MRI, latent-only inner loop",
                  _meta("meta_film_mri"), ("meta_film_mri", "meta_film_mri_8x")))
# the capacity study (not in the paper): each width its own kind (cost grows with it); latent sizes share one
for _eid, _what in (("cap_center_w32", "centre, SIREN width 32"), ("cap_center_w128", "centre, SIREN width 128"),
                    ("cap_center_last1", "centre, last layer adapted"), ("cap_random_w32", "random, SIREN width 32"),
                    ("cap_random_w128", "random, SIREN width 128")):
    register(StepKind(_eid, f"Capacity study (not in the paper): {_what}", _meta(_eid), (_eid,)))
register(StepKind("cap_film_center", "Capacity study (not in the paper): centre, FiLM latent 64 / 1024",
                  _meta("cap_film_center_z1024"), ("cap_film_center_z1024", "cap_film_center_z64")))
register(StepKind("cap_film_random", "Capacity study (not in the paper): random, FiLM latent 64 / 1024",
                  _meta("cap_film_random_z1024"), ("cap_film_random_z1024", "cap_film_random_z64")))
register(StepKind("dncnn_train", "DnCNN prior: one training step", _dncnn_train, ("denoiser",),
                  meta_gradient=False))


def size_note(kind: str, resolved: Resolved) -> str:
    """The sizes a kind runs at in ``resolved``, for the printed tables."""
    eid = STEP_KINDS[kind].experiment
    if eid == "denoiser":
        d = denoiser_spec(resolved.config)
        return f"DnCNN {d['depth']}×{d['features']}, {d['batch_size']}×{d['patch_size']}²"
    return describe(resolved.all[eid], resolved)
