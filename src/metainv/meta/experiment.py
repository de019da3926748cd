"""Meta-training (Algorithm 2) and reconstruction (Algorithm 1) for one experiment spec.

An experiment spec is the resolved config of one ``config.experiments`` entry with its task
merged in (see ``workflow/rules/common.smk``)::

    {"id", "seed", "task": {"name", "resolution", "operator": {...}},
     "siren": {"hidden", "layers", "omega0"},
     "solver": {"kind", "steps", "step_size", "eval_step_size"},
     "inner": {"steps", "lr_scheme", "lr_init", "lr_param", "order", "loss_reduction"},
     "outer": {"loss", "lr", "inner_lr_lr", "batch_size", "steps", "checkpoint_every",
               "validate_every", "val_images", "grad_clip"},
     "eval": {"batch_size", "observed"}}
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from metainv.data.store import load_split, to_tensor
from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapt, make_outer_loss
from metainv.metrics import psnr_torch
from metainv.nets.siren import Siren
from metainv.physics import LinearOperator, Mask, build_operator
from metainv.solvers import make_solver
from metainv.train import Trainer, atomic_torch_save

log = logging.getLogger(__name__)


def build_model(spec: Mapping, generator: torch.Generator | None = None
                ) -> tuple[Siren, InnerLearningRates]:
    """θ (SIREN) and the learned inner learning rates α from a spec."""
    s = spec["siren"]
    siren = Siren(hidden=s["hidden"], layers=s["layers"], omega0=s["omega0"], generator=generator)
    inner = spec["inner"]
    rates = InnerLearningRates([p.shape for p in siren.params], inner["steps"],
                               inner["lr_scheme"], inner["lr_init"],
                               inner.get("lr_param", "linear"))  # models saved before lr_param: linear
    return siren, rates


def select(op: LinearOperator, index: slice) -> LinearOperator:
    """The operator of a sub-batch (per-image masks are sliced, shared operators reused)."""
    if isinstance(op, Mask) and op.mask.shape[0] > 1:
        return Mask(op.mask[index], noise_std=op.noise_std)
    return op


def measure(spec: Mapping, x: torch.Tensor, generator: torch.Generator,
            observed: Any = None) -> tuple[LinearOperator, torch.Tensor]:
    """Operator for the batch ``x`` and its noisy measurement y = A(x) + ε."""
    n, _, h, w = x.shape
    op = build_operator(spec["task"]["operator"], n, h, w, generator, x.device, observed=observed)
    return op, op.measure(x, generator)


def solver_parts(spec: Mapping, device: torch.device, denoiser_path: str | Path | None = None,
                 solver_params: Mapping | None = None, denoiser_state: Mapping | None = None):
    """(denoiser or None, solver, evaluation solver) for an experiment.

    A ``red`` solver loads the pretrained DnCNN from ``denoiser_path`` (weights frozen unless
    ``denoiser.finetune``), optionally replaced by a fine-tuned ``denoiser_state``; RED's
    parameters are ``solver_params`` (tuned for the classical baseline) or the spec's.
    """
    denoiser = None
    if spec["solver"]["kind"] == "red":
        from metainv.denoiser import load_denoiser

        if denoiser_path is None:
            raise ValueError(f"{spec['id']}: a red solver needs the trained DnCNN (--denoiser)")
        denoiser = load_denoiser(denoiser_path, device, trainable=spec["denoiser"]["finetune"])
        if denoiser_state is not None:
            denoiser.load_state_dict(denoiser_state)
    solver = make_solver(spec["solver"], denoiser=denoiser, params=solver_params)
    eval_solver = make_solver(spec["solver"], evaluation=True, denoiser=denoiser, params=solver_params)
    return denoiser, solver, eval_solver


def read_solver_params(path: str | Path | None) -> dict | None:
    """``params`` of a tuning result (``params.json``), or None."""
    if path is None:
        return None
    return dict(json.loads(Path(path).read_text())["params"])


def train_meta(spec: Mapping, data_dir: str | Path, model_path: str | Path, log_path: str | Path,
               device: torch.device, progress: bool = True, denoiser_path: str | Path | None = None,
               solver_params_path: str | Path | None = None) -> list[dict]:
    """Algorithm 2: learn θ and α on the training split; write ``model.pt`` and the log.

    The checkpoint (``checkpoint.pt`` beside the model) makes the run resumable. With a
    fine-tuned denoiser (Table 4) its weights are trained jointly with their own learning
    rate and saved in ``model.pt``.
    """
    model_path = Path(model_path)
    seed = int(spec["seed"])
    siren, rates = build_model(spec, torch.Generator().manual_seed(seed))
    siren.to(device)
    rates.to(device)
    outer = spec["outer"]
    solver_params = read_solver_params(solver_params_path)
    denoiser, solver, eval_solver = solver_parts(spec, device, denoiser_path, solver_params)
    groups = [
        {"params": list(siren.parameters()), "lr": outer["lr"]},
        {"params": list(rates.parameters()), "lr": outer.get("inner_lr_lr", outer["lr"])},
    ]
    modules: dict[str, torch.nn.Module] = {"siren": siren, "rates": rates}
    finetune = denoiser is not None and spec["denoiser"]["finetune"]
    if finetune:
        groups.append({"params": list(denoiser.parameters()), "lr": spec["denoiser"]["lr"]})
        modules["denoiser"] = denoiser
    optimizer = torch.optim.Adam(groups)
    train = load_split(data_dir, "train", mmap=True)
    val = to_tensor(load_split(data_dir, "val")[: outer["val_images"]], device)
    loss_fn = make_outer_loss(outer["loss"], device, outer.get("lpips_net", "vgg"))
    steps, second = spec["inner"]["steps"], spec["inner"]["order"] == "second"
    reduction = spec["inner"]["loss_reduction"]
    trainer = Trainer(modules, {"outer": optimizer},
                      total_steps=outer["steps"], checkpoint_path=model_path.with_name("checkpoint.pt"),
                      log_path=log_path, seed=seed, config={"spec": spec, "solver_params": solver_params},
                      checkpoint_every=outer["checkpoint_every"], desc=f"meta-train {spec['id']}",
                      progress=progress, keep_eval=("denoiser",))
    # validation measurements are fixed once (own seed) so the curve is comparable across steps
    val_op, val_y = measure(spec, val, torch.Generator().manual_seed(seed + 1), spec["eval"].get("observed"))

    def step_fn(step: int) -> dict[str, float]:
        idx = torch.randint(len(train), (outer["batch_size"],), generator=trainer.generator)
        x = to_tensor(train[np.sort(idx.numpy())], device)
        op, y = measure(spec, x, trainer.generator)
        result = adapt(siren, rates, y, op, solver, steps, second_order=second, reduction=reduction)
        loss = loss_fn(result.output, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if outer.get("grad_clip"):
            torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], outer["grad_clip"])
        optimizer.step()
        out = {"loss": loss.item()}
        for k, inner_loss in enumerate(result.inner_losses):
            out[f"inner_loss_{k}"] = inner_loss.item()
        out.update(rates.summary())  # the rates after this update
        return out

    def validate_fn(step: int) -> dict[str, float]:
        x = adapt(siren, rates, val_y, val_op, solver, steps, track_meta_gradient=False,
                  final_solver=eval_solver, reduction=reduction).output
        return {"val_psnr": psnr_torch(x, val).mean().item()}

    rows = trainer.run(step_fn, validate_fn, outer["validate_every"])
    atomic_torch_save({"spec": dict(spec), "siren": siren.state_dict(), "rates": rates.state_dict(),
                       "solver_params": solver_params,
                       "denoiser": denoiser.state_dict() if finetune else None,
                       "steps_trained": trainer.step}, model_path)
    return rows


def load_model(model_path: str | Path, device: torch.device) -> tuple[dict, Siren, InnerLearningRates]:
    """(the saved ``model.pt`` dict — spec, solver params, fine-tuned DnCNN —, θ, α)."""
    state = torch.load(model_path, map_location=device, weights_only=False)
    siren, rates = build_model(state["spec"])
    siren.load_state_dict(state["siren"])
    rates.load_state_dict(state["rates"])
    return state, siren.to(device), rates.to(device)


def reconstruct_meta(spec: Mapping, model_path: str | Path, data_dir: str | Path,
                     out_path: str | Path, device: torch.device,
                     denoiser_path: str | Path | None = None) -> Path:
    """Algorithm 1 on every validation image; write ``recon.npz``.

    Measurements use a fixed evaluation seed (``spec["seed"]`` + 1000), so every method of a
    task sees the same masks and noise. A red solver uses the solver parameters and (when
    fine-tuned) the DnCNN weights stored in ``model.pt``.
    """
    state, siren, rates = load_model(model_path, device)
    val = to_tensor(load_split(data_dir, "val"), device)
    op, y = measure(spec, val, torch.Generator().manual_seed(evaluation_seed(spec)),
                    spec["eval"].get("observed"))
    _, solver, eval_solver = solver_parts(spec, device, denoiser_path, state.get("solver_params"),
                                          state.get("denoiser"))
    batch = int(spec["eval"]["batch_size"])
    outputs = []
    for start in range(0, len(val), batch):
        index = slice(start, start + batch)
        result = adapt(siren, rates, y[index], select(op, index), solver, spec["inner"]["steps"],
                       track_meta_gradient=False, final_solver=eval_solver,
                       reduction=spec["inner"]["loss_reduction"])
        outputs.append(result.output.detach())
    return save_reconstruction(out_path, torch.cat(outputs), y, op)


def evaluation_seed(spec: Mapping) -> int:
    """The seed of a task's evaluation measurements, shared by all its experiments."""
    return int(spec["seed"]) + 1000


def save_reconstruction(out_path: str | Path, recon: torch.Tensor, measurement: torch.Tensor,
                        op: LinearOperator | None = None) -> Path:
    """``recon.npz``: reconstructions and the measurement y in image space (float16 N×H×W×C:
    zero-filled for masks, blurred for blur), and the mask where there is one."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "recon": recon.detach().permute(0, 2, 3, 1).cpu().numpy().astype(np.float16),
        "measurement": measurement.detach().permute(0, 2, 3, 1).cpu().numpy().astype(np.float16),
    }
    if isinstance(op, Mask):
        arrays["mask"] = op.mask.detach().cpu().numpy().astype(bool)
    tmp = out_path.with_name(out_path.stem + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out_path)
    return out_path
