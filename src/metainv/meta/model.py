"""The meta-learned model of one experiment: θ (a SIREN, optionally FiLM-modulated) and the
inner learning rates α (which also say which per-task tensors the inner loop adapts)."""

from __future__ import annotations

from typing import Mapping

import torch

from metainv.meta.inner_lr import InnerLearningRates
from metainv.meta.maml import adapted_count, adapted_indices, task_shapes
from metainv.nets.modulated_siren import ModulatedSiren
from metainv.nets.siren import Siren
from metainv.specs import validate_model
from metainv.specs.experiment import Inner
from metainv.specs.experiment import Siren as SirenSpec



def build_model(spec: Mapping, generator: torch.Generator | None = None
                ) -> tuple[Siren, InnerLearningRates]:
    """θ (``spec["siren"]``: hidden, layers, omega0, modulation {kind none|shift|scale_shift,
    latent_dim}) and α (``spec["inner"]``: steps, lr_scheme, lr_init, lr_param, adapt
    all|latent|last, last_layers)."""
    s = validate_model(SirenSpec, spec["siren"], "siren").model_dump()
    modulation = s["modulation"]
    if modulation["kind"] == "none":
        siren = Siren(hidden=s["hidden"], layers=s["layers"], omega0=s["omega0"], generator=generator)
    else:
        siren = ModulatedSiren(hidden=s["hidden"], layers=s["layers"], omega0=s["omega0"],
                               latent_dim=modulation["latent_dim"], kind=modulation["kind"],
                               generator=generator)
    inner = validate_model(Inner, spec["inner"], "inner").model_dump()
    adapted = adapted_indices(siren, inner["adapt"], inner["last_layers"])
    rates = InnerLearningRates(task_shapes(siren), inner["steps"], inner["lr_scheme"],
                               inner["lr_init"], inner["lr_param"], adapted=adapted,
                               max_rate=inner["lr_max"])
    return siren, rates


def inner_loop_capacity(spec: Mapping) -> tuple[int, str, str]:
    """(values the inner loop adapts per image, family, description) of a meta experiment:
    family ``all weights`` / ``last layers`` / ``latent`` (``inner.adapt``), description e.g.
    ``SIREN 4 × 64, all weights`` or ``FiLM SIREN 4 × 64, latent 256`` (§5's capacity)."""
    siren, rates = build_model(spec)
    s = validate_model(SirenSpec, spec["siren"], "siren").model_dump()
    inner = validate_model(Inner, spec["inner"], "inner").model_dump()
    net = f"SIREN {s['layers']} × {s['hidden']}"
    modulation = s["modulation"]
    if modulation["kind"] != "none":
        net = f"FiLM ({modulation['kind'].replace('_', '-')}) {net}"
    adapt = inner["adapt"]
    if adapt == "latent":
        family, what = "latent", f"latent {modulation['latent_dim']}"
    elif adapt == "last":
        n = inner["last_layers"]
        family, what = "last layers", f"last {n} layer{'s' if n > 1 else ''}"
    else:
        family, what = "all weights", "all weights"
    return adapted_count(siren, rates.adapted), family, f"{net}, {what}"


__all__ = ["build_model", "inner_loop_capacity"]
