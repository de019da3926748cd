"""Stage ``meta_train`` (Algorithm 2): learn θ and the inner rates α of one experiment.

An experiment spec is one ``config.experiments`` entry resolved by :mod:`metainv.config`
(defaults merged, task attached)::

    {"id", "seed", "tf32", "task": {"name", "resolution", "operator": {...}},
     "siren": {"hidden", "layers", "omega0"},
     "solver": {"kind", "steps", "step_size", "eval_step_size", "params", ...},
     "inner": {"steps", "lr_scheme", "lr_init", "lr_param", "order", "loss_reduction"},
     "outer": {"loss", "lr", "inner_lr_lr", "batch_size", "steps", "checkpoint_every",
               "validate_every", "tuning_images", "keep", "grad_clip"},
     "eval": {"batch_size", "observed", "data_consistency"}}

``model.pt`` is :mod:`metainv.metamodel`'s format (written here, read by the reconstructors).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from metainv.classical import read_params
from metainv.data.store import load_split, split_tuning, to_tensor
from metainv.meta.maml import InnerInstruments, adapt, make_outer_loss
from metainv.meta.model import build_model
from metainv.meta.solver_params import LearnedSolverParameters
from metainv.metamodel import save_meta_model, solver_parts
from metainv.metrics import psnr_torch
from metainv.recon import measure, tuning_measurement
from metainv.train import TUNING_COLUMN, Trainer, keep_best_column

log = logging.getLogger(__name__)


def meta_train(spec: Mapping, data_dir: str | Path, model_path: str | Path, log_path: str | Path,
               device: torch.device, progress: bool = True, denoiser_path: str | Path | None = None,
               solver_params_path: str | Path | None = None, curve_path: str | Path | None = None
               ) -> list[dict]:
    """Algorithm 2: learn θ and α on the training split minus its tuning split; write
    ``model.pt`` and the log. The training curve (``tuning_psnr`` in the log) scores the first
    ``outer.tuning_images`` images of the tuning split (``spec["tuning"]``, measured with
    :func:`metainv.recon.tuning_seed`), never the validation split; with ``outer.keep: best`` (the default) ``model.pt`` holds the weights of the step
    where that curve was highest (``selected_step``).

    The checkpoint (``checkpoint.pt`` beside the model) makes the run resumable. With a
    fine-tuned denoiser (Table 4) its weights are trained jointly with their own learning
    rate and saved in ``model.pt``. ``curve_path``: the training curve (PNG) from the log.
    """
    model_path = Path(model_path)
    seed = int(spec["seed"])
    siren, rates = build_model(spec, torch.Generator().manual_seed(seed))
    siren.to(device)
    rates.to(device)
    outer = spec["outer"]
    solver_params = start_solver_params(spec, read_params(solver_params_path))
    denoiser, solver, eval_solver = solver_parts(spec, device, denoiser_path, solver_params, training=True)
    learned = LearnedSolverParameters(solver_params or {}, spec["solver"]["learn"]).to(device)
    groups = [
        {"params": list(siren.parameters()), "lr": outer["lr"]},
        {"params": list(rates.parameters()), "lr": outer["inner_lr_lr"]},
    ]
    modules: dict[str, torch.nn.Module] = {"siren": siren, "rates": rates}
    if spec["solver"]["learn"]:
        groups.append({"params": list(learned.parameters()), "lr": outer["solver_lr"]})
        modules["solver_params"] = learned
    finetune = denoiser is not None and spec["denoiser"]["finetune"]
    if finetune:
        groups.append({"params": list(denoiser.parameters()), "lr": spec["denoiser"]["lr"]})
        modules["denoiser"] = denoiser
    optimizer = torch.optim.Adam(groups)
    store = load_split(data_dir, "train", mmap=True)
    fit, tuning = split_tuning(len(store), int(spec["tuning"]))
    train = store[fit]
    val = to_tensor(store[tuning][: outer["tuning_images"]], device)  # tuning images, not validation
    loss_fn = make_outer_loss(outer["loss"], device, outer["lpips_net"])
    steps, second = spec["inner"]["steps"], spec["inner"]["order"] == "second"
    reduction = spec["inner"]["loss_reduction"]
    trainer = Trainer(modules, {"outer": optimizer},
                      total_steps=outer["steps"], checkpoint_path=model_path.with_name("checkpoint.pt"),
                      log_path=log_path, seed=seed, config={"spec": spec, "solver_params": solver_params},
                      checkpoint_every=outer["checkpoint_every"], desc=f"meta-train {spec['id']}",
                      progress=progress, keep_eval=("denoiser",),
                      keep_best=keep_best_column(outer["keep"]))
    # the curve's measurements are fixed once (the tuning seed) so it is comparable across steps
    val_op, val_y = tuning_measurement(spec, val, spec["eval"]["observed"])

    def step_fn(step: int) -> dict[str, float]:
        idx = torch.randint(len(train), (outer["batch_size"],), generator=trainer.generator)
        x = to_tensor(train[np.sort(idx.numpy())], device)
        op, y = measure(spec, x, trainer.generator)
        result = adapt(siren, rates, y, op, learned.apply(solver), steps, second_order=second,
                       reduction=reduction, instruments=True)
        loss = loss_fn(result.output, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        out = {"loss": loss.item()}
        if outer["grad_clip"] is not None:
            norm = torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], outer["grad_clip"])
            out["grad_norm"] = norm.item()  # before clipping
        optimizer.step()
        rates.clip_()  # inner.lr_max
        for k, inner_loss in enumerate(result.inner_losses):
            out[f"inner_loss_{k}"] = inner_loss.item()
        with torch.no_grad():
            out.update(inner_loop_columns(result.instruments, result.output, x,
                                          loss_fn(result.instruments.start_output, x).item()))
        out.update(rates.summary())  # the rates after this update
        out.update(learned.summary())  # f's learned parameters after this update
        return out

    def validate_fn(step: int) -> dict[str, float]:
        result = adapt(siren, rates, val_y, val_op, learned.apply(solver), steps, track_meta_gradient=False,
                       final_solver=learned.apply(eval_solver), reduction=reduction, instruments=True)
        adapted = psnr_torch(result.output, val).mean().item()
        start = psnr_torch(result.instruments.start_output, val).mean().item()
        return {TUNING_COLUMN: adapted, "tuning_psnr_start": start}

    rows = trainer.run(step_fn, validate_fn, outer["validate_every"])
    save_meta_model(model_path, spec, siren, rates, learned.numbers() if solver_params else None,
                    denoiser if finetune else None, trainer.step, trainer.selected_step)
    if curve_path is not None:
        from metainv.report.figures import plot_training_curve

        plot_training_curve(log_path, curve_path, f"{spec['id']} ({spec['task']['name']})")
    return rows


def start_solver_params(spec: Mapping, tuned: Mapping | None) -> dict | None:
    """f's parameters at the start of training: ``solver.params_from``'s tuned values (``tuned``)
    with the keys of ``solver.params`` replacing them; None for a solver without parameters."""
    given = spec["solver"]["params"] or {}
    if tuned is None and not given:
        return None
    return {**(tuned or {}), **given}


def inner_loop_columns(instruments: InnerInstruments, adapted: torch.Tensor, target: torch.Tensor,
                       start_loss: float) -> dict[str, float]:
    """The training log's view of what the inner loop did on one batch (means over tasks):
    ``loss_start`` (the outer loss of f(φ_θ)), ``inner_gain_db`` (PSNR of the adapted output
    minus that of f(φ_θ)), ``inner_loss_final`` (L_in after the last update),
    ``inner_rel_change`` (‖Δφ‖/‖φ‖) and, with noise, ``inner_loss_noise_ratio`` (L_in / Nσ²)."""
    gain = psnr_torch(adapted.detach(), target) - psnr_torch(instruments.start_output, target)
    out = {"loss_start": start_loss, "inner_gain_db": gain.mean().item(),
           "inner_loss_final": instruments.final_inner_loss.mean().item(),
           "inner_rel_change": instruments.relative_change.mean().item()}
    if instruments.noise_floor_ratio is not None:
        out["inner_loss_noise_ratio"] = instruments.noise_floor_ratio.mean().item()
    return out


__all__ = ["meta_train", "start_solver_params", "inner_loop_columns"]
