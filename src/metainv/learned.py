"""The learned baselines' model file and their shared training/reconstruction plumbing.

Two supervised baselines map a measurement straight to an image and are trained end to end
with L2 to ground truth on the meta experiments' training split:

* ``unet`` (Tables 1–2): :class:`metainv.nets.unet.InpaintingUNet`;
* ``unrolled`` (Table 4): :class:`metainv.solvers.unrolled.UnrolledSolver`, RED(12)/HQS(12)
  with the pretrained DnCNN fine-tuned, solver parameters as tuned for the classical run.

``model.pt`` (this module owns the format): ``{"method", "hparams", "denoiser_hparams"
(unrolled), "state_dict", "spec", "steps_trained", "selected_step"}`` — enough to rebuild the
network without the configuration; tensors, numbers, strings and plain containers only, read
by :func:`metainv.train.load_tensors` (never runs code). An experiment spec carries a
``train`` block::

    train: {lr, batch_size, steps, loss, checkpoint_every, validate_every, tuning_images, keep,
            grad_clip}
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from metainv.errors import MetainvError
from metainv.train import (TUNING_COLUMN, Trainer, atomic_torch_save, keep_best_column, load_tensors,
                           make_supervised_step)

log = logging.getLogger(__name__)


def build_unet(spec: Mapping) -> nn.Module:
    """The UNet of an experiment, weights drawn from the experiment's seed."""
    from metainv.nets.unet import InpaintingUNet

    cfg = spec["unet"]
    with torch.random.fork_rng(devices=[]):  # seeded init, global RNG untouched
        torch.manual_seed(int(spec["seed"]))
        return InpaintingUNet(channels_per_scale=cfg["channels_per_scale"], batch_norm=cfg["batch_norm"],
                              start_at_input=cfg["start_at_input"])


def build_unrolled(spec: Mapping, denoiser: nn.Module, params: Mapping) -> nn.Module:
    """RED/HQS unrolled for ``spec.unrolled.steps`` iterations around ``denoiser``."""
    from metainv.solvers.unrolled import UnrolledSolver

    cfg = spec["unrolled"]
    return UnrolledSolver(cfg["solver"], denoiser, params, steps=int(cfg["steps"]),
                          checkpoint_denoiser=bool(cfg["checkpoint_denoiser"]))


def build_unrolled_from_files(spec: Mapping, denoiser_path: str | Path, params_path: str | Path,
                              device: torch.device | str = "cpu") -> nn.Module:
    """The unrolled solver to fine-tune: the pretrained DnCNN (trainable) and the classical
    run's tuned parameters (``params.json``, :func:`metainv.classical.read_params`)."""
    from metainv.classical import read_params
    from metainv.denoiser import load_denoiser

    denoiser = load_denoiser(denoiser_path, device, trainable=True)
    return build_unrolled(spec, denoiser, read_params(params_path)).to(device)


def save_learned(model: nn.Module, path: str | Path, method: str, spec: Mapping, steps_trained: int,
                 selected_step: int | None = None) -> None:
    """Write ``model.pt`` atomically (see the module docstring)."""
    blob = {"method": method, "hparams": model.hparams(), "state_dict": model.state_dict(),
            "spec": dict(spec), "steps_trained": int(steps_trained),
            "selected_step": None if selected_step is None else int(selected_step)}
    if method == "unrolled":
        blob["denoiser_hparams"] = model.denoiser.hparams()
    atomic_torch_save(blob, path)


def load_learned(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild a UNet or an unrolled solver from ``model.pt``, in eval mode, on ``device``."""
    blob = load_tensors(path)
    if not isinstance(blob, dict):
        raise MetainvError(f"{path}: not a learned-baseline model file")
    if blob.get("method") == "unet":
        from metainv.nets.unet import InpaintingUNet

        model: nn.Module = InpaintingUNet(**blob["hparams"])
    elif blob.get("method") == "unrolled":
        from metainv.nets.dncnn import DnCNN
        from metainv.solvers.unrolled import UnrolledSolver

        h = blob["hparams"]
        model = UnrolledSolver(h["method"], DnCNN(**blob["denoiser_hparams"]), h["params"], h["steps"])
    else:
        raise MetainvError(f"{path}: not a learned-baseline model file (method {blob.get('method')!r})")
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval()


def fit_supervised(spec: Mapping, model: nn.Module, name: str, data_dir: str | Path, model_path: str | Path,
                   log_path: str | Path, device: torch.device, progress: bool = True) -> list[dict]:
    """Train ``model(y, op)`` with L2 (``train.loss``) to ground truth on the training split
    (less its tuning tail) by :class:`metainv.train.Trainer` (checkpoint/resume, NaN stop, CSV
    log, a PSNR curve ``tuning_psnr`` on fixed measurements of the first ``train.tuning_images``
    tuning images — never the validation split); write model.pt, holding the weights of the
    step ``train.keep`` selects (best: highest ``tuning_psnr``, the rule of Meta's ``outer.keep``).

    Measurements are drawn exactly as for meta-training (:func:`metainv.recon.measure`):
    random inpainting draws K per batch from the task's distribution, so one model serves
    every K of Table 2.
    """
    from metainv.data.store import load_split, split_tuning, to_tensor
    from metainv.metrics import psnr_torch
    from metainv.recon import measure, tuning_measurement

    cfg = spec["train"]
    seed = int(spec["seed"])
    model_path = Path(model_path)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=float(cfg["lr"]))
    store = load_split(data_dir, "train", mmap=True)
    fit, tuning = split_tuning(len(store), int(spec["tuning"]))
    train = store[fit]
    val = to_tensor(store[tuning][: int(cfg["tuning_images"])], device)  # tuning images, not validation
    trainer = Trainer({name: model}, {"adam": optimizer}, total_steps=int(cfg["steps"]),
                      checkpoint_path=model_path.with_name("checkpoint.pt"), log_path=log_path, seed=seed,
                      config=dict(spec), checkpoint_every=int(cfg["checkpoint_every"]),
                      desc=f"train {spec['id']}", progress=progress,
                      keep_best=keep_best_column(cfg["keep"]))
    step_fn = make_supervised_step(model, optimizer, train, trainer.generator,
                                   lambda x, g: measure(spec, x, g), int(cfg["batch_size"]), device,
                                   loss=cfg["loss"], grad_clip=cfg["grad_clip"])
    # the curve's measurements fixed once (the tuning seed), as for the meta runs
    val_op, val_y = tuning_measurement(spec, val, spec["eval"]["observed"])

    def validate_fn(step: int) -> dict[str, float]:
        with torch.no_grad():
            return {TUNING_COLUMN: psnr_torch(model(val_y, val_op), val).mean().item()}

    rows = trainer.run(step_fn, validate_fn, int(cfg["validate_every"]))
    model.eval()
    save_learned(model, model_path, spec["method"], spec, trainer.step, trainer.selected_step)
    return rows


__all__ = ["build_unet", "build_unrolled", "build_unrolled_from_files", "save_learned", "load_learned", "fit_supervised"]
