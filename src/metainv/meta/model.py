"""The meta-learned model of one experiment: θ (a SIREN) and the inner learning rates α."""

from __future__ import annotations

from typing import Mapping

import torch

from metainv.meta.inner_lr import InnerLearningRates
from metainv.nets.siren import Siren


def build_model(spec: Mapping, generator: torch.Generator | None = None
                ) -> tuple[Siren, InnerLearningRates]:
    """θ (SIREN, ``spec["siren"]``) and α (``spec["inner"]``: steps, lr_scheme, lr_init, lr_param)."""
    s = spec["siren"]
    siren = Siren(hidden=s["hidden"], layers=s["layers"], omega0=s["omega0"], generator=generator)
    inner = spec["inner"]
    rates = InnerLearningRates([p.shape for p in siren.params], inner["steps"],
                               inner["lr_scheme"], inner["lr_init"],
                               inner.get("lr_param", "linear"))  # models saved before lr_param: linear
    return siren, rates


__all__ = ["build_model"]
