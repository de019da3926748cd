"""Stage ``interpolate``: the classical reference of Table 2 — linear interpolation of the
observed pixels (:mod:`metainv.solvers.interpolate`) on every validation measurement, written
to ``recon.npz``. No training, no parameters; the masks are the task's evaluation masks
(:func:`metainv.recon.evaluation_measurement`, ``eval.observed``), the same as Meta's."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import torch

from metainv.data.store import load_split, to_tensor
from metainv.errors import ConfigError
from metainv.physics import Mask
from metainv.recon import evaluation_measurement, save_reconstruction
from metainv.solvers.interpolate import interpolate_batch

log = logging.getLogger(__name__)


def interpolate(spec: Mapping, data_dir: str | Path, out_path: str | Path) -> Path:
    """Interpolate every validation measurement of a masking task; write ``recon.npz``."""
    val = to_tensor(load_split(data_dir, "val"), torch.device("cpu"))
    op, y = evaluation_measurement(spec, val)
    if not isinstance(op, Mask):
        raise ConfigError(f"config.experiments.{spec['id']}: method interp needs a masking task, "
                          f"not {spec['task']['operator']['kind']!r}")
    mask = op.mask.expand(len(val), 1, *val.shape[-2:]).numpy()
    x = interpolate_batch(y.numpy(), mask)
    log.info("%s: interpolated %d images", spec["id"], len(x))
    return save_reconstruction(out_path, torch.from_numpy(x), y, op)


__all__ = ["interpolate"]
