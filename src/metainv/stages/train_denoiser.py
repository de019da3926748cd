"""Stage ``train_denoiser``: the DnCNN prior of RED / HQS at one noise level σ₀ (paper §4.2).

Trains on the store's training split minus its tuning split (``data.tuning``, which scores the
denoiser), resumes from ``checkpoint.pt`` beside the model, and
writes the weights, the CSV log, the training curve and ``eval.json`` (held-out PSNR of the
noisy and the denoised images at σ₀). The step itself is :func:`metainv.denoiser.make_denoiser_step`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import torch

from metainv.atomic import write_json
from metainv.data.store import load_split, split_tuning, to_tensor
from metainv.denoiser import evaluate_denoiser, make_denoiser_step, save_denoiser
from metainv.nets.dncnn import DnCNN
from metainv.recon import tuning_seed
from metainv.train import TUNING_COLUMN, Trainer, keep_best_column

log = logging.getLogger(__name__)


def train_denoiser(
    spec: Mapping, data_dir: str | Path, model_path: str | Path, log_path: str | Path,
    eval_path: str | Path, device: torch.device, progress: bool = True,
    curve_path: str | Path | None = None,
) -> dict[str, float]:
    """Train DnCNN per ``spec`` (the ``denoiser`` config block plus ``seed``) on the
    store's training split minus its tuning split; write the weights, the CSV log and
    ``eval_path`` (JSON: PSNR of noisy input and of the denoised images on ``tuning_images``
    tuning images at σ₀). Resumes from ``checkpoint.pt`` beside the model.
    """
    model_path = Path(model_path)
    seed = int(spec["seed"])
    with torch.random.fork_rng(devices=[]):  # seeded weight init, global RNG untouched
        torch.manual_seed(seed)
        net = DnCNN(channels=3, depth=int(spec["depth"]), features=int(spec["features"]),
                    noise_level=float(spec["noise_std"])).to(device)
    base_lr = float(spec["lr"])
    optimizer = torch.optim.Adam(net.parameters(), lr=base_lr)
    steps = int(spec["steps"])
    decay_step = int(round(float(spec["lr_decay_at"]) * steps))

    def lr_at(step: int) -> float:
        return base_lr * (0.1 if step >= decay_step else 1.0)

    train = load_split(data_dir, "train", mmap=True)
    fit, held = split_tuning(len(train), int(spec["tuning"]))
    held_images = to_tensor(train[held][: int(spec["tuning_images"])], device)
    trainer = Trainer({"dncnn": net}, {"adam": optimizer}, total_steps=steps,
                      checkpoint_path=model_path.with_name("checkpoint.pt"), log_path=log_path,
                      seed=seed, config=dict(spec), checkpoint_every=int(spec["checkpoint_every"]),
                      desc="train-denoiser", progress=progress, keep_best=keep_best_column(spec["keep"]))
    step_fn = make_denoiser_step(net, optimizer, train[fit], trainer.generator, float(spec["noise_std"]),
                                 int(spec["batch_size"]), int(spec["patch_size"]), device, lr_at)

    def validate_fn(step: int) -> dict[str, float]:
        ev = evaluate_denoiser(net, held_images, float(spec["noise_std"]), tuning_seed(spec))
        return {TUNING_COLUMN: ev["denoised_psnr"], "tuning_noisy_psnr": ev["noisy_psnr"]}

    trainer.run(step_fn, validate_fn, int(spec["validate_every"]))
    net.eval()
    save_denoiser(net, model_path, steps_trained=trainer.step, selected_step=trainer.selected_step)
    result = {"noise_std": float(spec["noise_std"]), "images": len(held_images), "steps": trainer.step,
              **evaluate_denoiser(net, held_images, float(spec["noise_std"]), tuning_seed(spec))}
    result["gain_db"] = result["denoised_psnr"] - result["noisy_psnr"]
    write_json(eval_path, result)
    log.info("DnCNN σ=%.3f on %d tuning images: noisy %.2f dB → denoised %.2f dB",
             result["noise_std"], result["images"], result["noisy_psnr"], result["denoised_psnr"])
    if curve_path is not None:
        from metainv.report.figures import plot_training_curve

        plot_training_curve(log_path, curve_path, f"DnCNN σ={spec['noise_std']}")
    return result


__all__ = ["train_denoiser"]
