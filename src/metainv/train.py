"""One training loop for every model (meta-initialisations, DnCNN, unrolled baselines).

The loop owns what every long job needs and nothing model-specific:

* checkpoint/resume — modules, optimisers, the data RNG and the log are saved atomically
  to ``checkpoint.pt`` every ``checkpoint_every`` steps; a rerun after ``kill -9`` resumes
  from the last checkpoint and ends with the same weights as an uninterrupted run;
* a configuration fingerprint in the checkpoint, so a stale checkpoint from a different
  configuration is never resumed (it is set aside and training starts over);
* a non-finite loss (or an optimiser update that overflows the parameters' dtype, e.g. a
  learning rate of 1e39) stops training with a :class:`NonFiniteLossError` that names the
  step, says which checkpoint exists and what a rerun will do — never a NaN model;
* a CSV log (one row per step, validation columns where validated) and a tqdm bar;
* the same keep rule for every model: ``keep_best`` (``keep: best`` in a spec) restores the
  weights of the step where the tuning curve (``tuning_psnr``, tuning-split images measured
  with :func:`metainv.recon.tuning_seed`) was highest.

Model files and checkpoints hold only tensors, numbers, strings and plain containers, and are
read by :func:`load_tensors` (``torch.load(weights_only=True)``): loading one never runs code.

The model-specific part is ``step_fn(step) -> {"loss": float, ...}``, which draws its batch
from :attr:`Trainer.generator` (saved in checkpoints) and performs one optimiser update.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import logging
import math
import os
import pickle
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from tqdm.auto import tqdm

from metainv import atomic
from metainv.errors import MetainvError

log = logging.getLogger(__name__)

StepFn = Callable[[int], Mapping[str, float]]
ValidateFn = Callable[[int], Mapping[str, float]]
Measure = Callable[[torch.Tensor, torch.Generator], tuple[Any, torch.Tensor]]


class NonFiniteLossError(MetainvError, RuntimeError):
    """Training produced a NaN/Inf loss or an overflowing update; no NaN model is written."""


class UnsafeFileError(MetainvError):
    """A model file or checkpoint holds more than tensors, numbers, strings and plain
    containers: it is refused, never unpickled (that could run code)."""


def _names_a_global(error: pickle.UnpicklingError) -> bool:
    """torch's weights-only unpickler refused a global (a class or function to call)."""
    text = str(error)
    return "allowed global" in text or "Unsupported global" in text


def load_tensors(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors, numbers, strings and plain
    containers only. A file that names anything else (a class, ``os.system``, ``open``) is
    refused with :class:`UnsafeFileError` naming it, before anything in it runs; any other
    unreadable file raises the loader's own error (a truncated checkpoint is set aside by
    :meth:`Trainer.try_resume`)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if _names_a_global(e):
            raise UnsafeFileError(
                f"{path}: refused to load: it holds more than tensors, numbers, strings and plain "
                f"containers, and unpickling it could run code ({_refused_global(e)})") from None
        raise


def _refused_global(error: pickle.UnpicklingError) -> str:
    """The line of torch's message that names the refused global."""
    for line in str(error).splitlines():
        if "global" in line.lower():
            return line.strip()
    return "a global"


#: The training-curve column of every learned model: mean PSNR on fixed measurements of
#: tuning-split images (never the validation split); what ``keep: best`` maximises.
TUNING_COLUMN = "tuning_psnr"


def keep_best_column(keep: str) -> str | None:
    """``keep: best`` → :data:`TUNING_COLUMN` (select the best step), ``last`` → None."""
    if keep not in ("best", "last"):
        raise ValueError(f"keep must be best or last, got {keep!r}")
    return TUNING_COLUMN if keep == "best" else None


def fingerprint(spec: Any) -> str:
    """Stable short hash of a JSON-serialisable configuration."""
    blob = json.dumps(spec, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary name, then rename: a crash never leaves half a file."""
    atomic.torch_save(obj, path)


class Trainer:
    """Run ``step_fn`` for ``total_steps`` steps with checkpointing and logging.

    Parameters
    ----------
    modules, optimizers:
        Everything whose state must survive a restart (``state_dict``/``load_state_dict``).
    checkpoint_path, log_path:
        ``checkpoint.pt`` beside the model (never a declared workflow output) and the CSV log.
    seed:
        Seeds :attr:`generator`, the only source of randomness ``step_fn`` may use.
    config:
        The run's configuration; its fingerprint guards against resuming a foreign checkpoint.
    keep_eval:
        Names of modules that stay in eval mode while their weights train.
    keep_best:
        A column that ``validate_fn`` returns (higher is better, e.g. ``tuning_psnr`` on
        the tuning split): after the last step the modules are set back to the weights of the
        validated step where it was highest (kept in the checkpoint, so a resumed run selects
        the same step; :attr:`selected_step`). None keeps the last step's weights.
    """

    def __init__(
        self,
        modules: Mapping[str, torch.nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        total_steps: int,
        checkpoint_path: str | Path,
        log_path: str | Path,
        seed: int,
        config: Any = None,
        checkpoint_every: int = 100,
        desc: str = "train",
        progress: bool = True,
        keep_eval: tuple[str, ...] = (),
        keep_best: str | None = None,
    ):
        if total_steps < 0:
            raise ValueError("total_steps must be ≥ 0")
        self.modules = dict(modules)
        self.optimizers = dict(optimizers)
        self.total_steps = int(total_steps)
        self.checkpoint_path = Path(checkpoint_path)
        self.log_path = Path(log_path)
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.desc = desc
        self.progress = progress
        self.config_hash = fingerprint(config)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.step = 0
        self.rows: list[dict[str, float]] = []
        self.resumed_from: int | None = None
        self.saved_step: int | None = None  # step of the checkpoint on disk for this config
        # modules trained but never switched to train mode (a BatchNorm prior keeps its
        # running statistics while its weights are fine-tuned)
        self.keep_eval = set(keep_eval)
        self.keep_best = keep_best
        self.best: dict[str, Any] | None = None  # {"step", "value", "modules"} of the best validated step
        self.selected_step: int | None = None

    # -- persistence ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "config_hash": self.config_hash,
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "generator": self.generator.get_state(),
            "rows": self.rows,
            "best": self.best,
        }

    def save_checkpoint(self) -> None:
        atomic_torch_save(self.state(), self.checkpoint_path)
        self.saved_step = self.step
        self.write_log()

    def try_resume(self) -> bool:
        """Load ``checkpoint.pt`` if it exists and matches this configuration."""
        if not self.checkpoint_path.exists():
            return False
        try:
            state = load_tensors(self.checkpoint_path)
        except UnsafeFileError:
            raise  # never set aside silently: someone put a file there that would run code
        except Exception as e:  # truncated/corrupt: set aside, start over
            log.warning("unreadable checkpoint %s (%s); starting over", self.checkpoint_path, e)
            os.replace(self.checkpoint_path, self.checkpoint_path.with_suffix(".corrupt"))
            return False
        if state.get("config_hash") != self.config_hash:
            stale = self.checkpoint_path.with_suffix(".stale")
            log.warning("checkpoint %s belongs to another configuration; moved to %s, starting over",
                        self.checkpoint_path, stale)
            os.replace(self.checkpoint_path, stale)
            return False
        for k, m in self.modules.items():
            m.load_state_dict(state["modules"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])
        self.rows = list(state["rows"])
        self.best = state.get("best")
        self.resumed_from = self.saved_step = self.step
        log.info("resumed %s from step %d", self.checkpoint_path, self.step)
        return True

    def write_log(self) -> None:
        if not self.rows:
            return
        keys: list[str] = []
        for row in self.rows:
            keys.extend(k for k in row if k not in keys)
        with atomic.atomic_open(self.log_path, "w") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)

    def non_finite_message(self, what: str) -> str:
        """Say what failed, which checkpoint exists and what a rerun will do."""
        head = f"{self.desc}: {what} at step {self.step + 1} of {self.total_steps}. "
        if self.saved_step is None:
            return head + (
                "No checkpoint was written before the failure, so nothing is kept; a rerun "
                "starts from step 0. Lower the learning rate(s) or check the data first.")
        saved = self.saved_step
        return head + (
            f"The checkpoint {self.checkpoint_path} (step {saved}, finite) is kept. Rerunning "
            f"unchanged resumes from step {saved} and repeats the same steps, so it will most "
            f"likely fail the same way. Changing any training setting (a lower learning rate, "
            f"other data) changes the run's fingerprint: that checkpoint is then moved to "
            f"{self.checkpoint_path.with_suffix('.stale').name} and training starts over from step 0.")

    # -- the loop ------------------------------------------------------------------------
    def run(self, step_fn: StepFn, validate_fn: ValidateFn | None = None, validate_every: int = 0) -> list[dict]:
        """Train until ``total_steps``; return the log rows."""
        self.try_resume()
        t0 = time.perf_counter()
        bar = tqdm(total=self.total_steps, initial=self.step, desc=self.desc,
                   disable=not self.progress, mininterval=2.0, dynamic_ncols=True)
        try:
            while self.step < self.total_steps:
                for name, m in self.modules.items():
                    m.train(name not in self.keep_eval)
                try:
                    out = dict(step_fn(self.step))
                except RuntimeError as e:
                    # torch raises this when an update (lr × step) exceeds the dtype's range
                    if "overflow" not in str(e):
                        raise
                    raise NonFiniteLossError(self.non_finite_message(f"the update overflowed ({e})")) from e
                loss = float(out["loss"])
                if not math.isfinite(loss):
                    raise NonFiniteLossError(self.non_finite_message(f"non-finite loss ({loss})"))
                self.step += 1
                row = {"step": self.step, **{k: float(v) for k, v in out.items()}}
                if validate_fn is not None and validate_every and (
                    self.step % validate_every == 0 or self.step == self.total_steps
                ):
                    for m in self.modules.values():
                        m.eval()
                    row.update({k: float(v) for k, v in validate_fn(self.step).items()})
                    self._remember_if_best(row)
                row["seconds"] = time.perf_counter() - t0
                self.rows.append(row)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                if self.step % self.checkpoint_every == 0 or self.step == self.total_steps:
                    self.save_checkpoint()
        finally:
            bar.close()
        self.write_log()
        self.selected_step = self.step
        if self.best is not None:
            for k, m in self.modules.items():
                m.load_state_dict(self.best["modules"][k])
            self.selected_step = int(self.best["step"])
            log.info("%s: kept the weights of step %d (%s %.4g, best on the tuning curve)",
                     self.desc, self.selected_step, self.keep_best, self.best["value"])
        return self.rows

    def _remember_if_best(self, row: Mapping[str, float]) -> None:
        """Copy the modules' weights if ``row[keep_best]`` is the best value so far (ties keep
        the earlier step)."""
        if self.keep_best is None:
            return
        value = row.get(self.keep_best)
        if value is None or not math.isfinite(value):
            return
        if self.best is None or value > self.best["value"]:
            self.best = {"step": self.step, "value": float(value),
                         "modules": {k: copy.deepcopy(m.state_dict()) for k, m in self.modules.items()}}


def make_supervised_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    images: Any,
    generator: torch.Generator,
    measure: Measure,
    batch_size: int,
    device: torch.device | str = "cpu",
    *,
    loss: str,
    grad_clip: float | None = None,
) -> StepFn:
    """``step_fn(step)`` for :class:`Trainer` training a reconstruction network end to end:
    the learned baselines (UNet, unrolled RED/HQS), loss L2 (or L1) to ground truth,

        min_w  mean ‖model_w(y, A) − x‖²,   y = A(x) + ε.

    Per step: ``batch_size`` images drawn uniformly from ``images`` (uint8 N×H×W×C, the
    store's format, converted on the fly), a fresh measurement ``measure(x, generator) ->
    (op, y)`` (random tasks draw their operator there), one optimiser update. Every random
    draw comes from ``generator`` (the trainer's), so a resumed run sees the same batches.
    """
    import numpy as np

    from metainv.data.store import to_tensor

    if loss not in ("l1", "l2"):
        raise ValueError(f"unknown supervised loss {loss!r} (l1 | l2)")
    params = [p for p in model.parameters() if p.requires_grad]

    def step(step_index: int) -> Mapping[str, float]:
        idx = torch.randint(len(images), (batch_size,), generator=generator)
        x = to_tensor(images[np.sort(idx.numpy())], device)
        op, y = measure(x, generator)
        residual = model(y, op) - x
        value = residual.pow(2).mean() if loss == "l2" else residual.abs().mean()
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        return {"loss": value.item()}

    return step
