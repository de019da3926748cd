"""The classical baselines' ``params.json`` and solver config: one owner.

``params.json`` is what :mod:`metainv.stages.tune_classical` chose on the tuning split::

    {"params": {...}, "psnr", "images", "source", "edge", "experiment"}

Its ``params`` are read (:func:`read_params`) by the classical reconstructor, by Meta-RED
(``solver.params_from``) and by the unrolled baselines (``unrolled.params_from``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from metainv.atomic import write_json
from metainv.errors import MetainvError


def classical_solver_config(spec: Mapping) -> dict[str, Any]:
    """The solver config of a classical experiment: its ``classical`` block, kind = method."""
    return {"kind": spec["method"], **spec["classical"]}


def write_params(path: str | Path, chosen: Mapping[str, Any]) -> Path:
    """Write ``params.json`` (atomically); ``chosen`` holds at least ``params``."""
    if "params" not in chosen:
        raise ValueError("params.json needs a 'params' entry")
    return write_json(path, dict(chosen))


def read_params(path: str | Path | None) -> dict | None:
    """The chosen solver parameters of ``params.json``, or None without a path."""
    if path is None:
        return None
    try:
        return dict(json.loads(Path(path).read_text())["params"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MetainvError(f"{path}: not a params.json written by tune-classical ({e})") from None


__all__ = ["classical_solver_config", "read_params", "write_params"]
