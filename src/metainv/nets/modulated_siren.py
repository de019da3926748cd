"""A SIREN with FiLM modulations from a per-task latent (paper §5; Functa, Dupont et al. 2022).

The paper's §5 proposes "a fixed SIREN that is modulated by feature-wise transformation" to cut
the inner loop's degrees of freedom. Shared weights θ (the SIREN of :mod:`metainv.nets.siren`,
same initialisation, ω₀ and coordinates) and, per task i, a latent z_i ∈ ℝ^d mapped *linearly*
to modulations of every hidden (sine) layer l:

    β_l = (M z + c)_l            shift:        h ← sin(ω₀ (W_l h + b_l + β_l))
    γ_l = 1 + (M z + c)'_l       scale_shift:  h ← sin(ω₀ (γ_l ⊙ (W_l h + b_l) + β_l))

The last layer is not modulated. z_i⁰ = 0 at the start of every task and the mapping's bias c
starts at 0, so before any inner step β = 0 (and γ = 1) *exactly* and the network is the plain
SIREN with the same θ. M starts like ``nn.Linear``: U(−1/√d, 1/√d).

Per-task parameters (what :meth:`ModulatedSiren.batched` returns and the inner loop may adapt)
are the SIREN's ``[W_0, b_0, …, W_L, b_L]`` followed by ``[M, c, z]``, each with a leading task
dimension B; ``latent_index`` is z's position.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from metainv.nets.siren import Siren, coordinate_grid, siren_forward

KINDS = ("shift", "scale_shift")


class ModulatedSiren(Siren):
    """θ of a SIREN (``layers`` linear layers) plus the linear latent → modulation map (M, c)."""

    def __init__(self, *, hidden: int, layers: int, omega0: float, latent_dim: int, kind: str = "shift",
                 in_features: int = 2, out_features: int = 3, generator: torch.Generator | None = None):
        # θ is drawn first, from the same generator: the same seed gives the same θ as Siren
        super().__init__(hidden=hidden, layers=layers, omega0=omega0, in_features=in_features,
                         out_features=out_features, generator=generator)
        if kind not in KINDS:
            raise ValueError(f"modulation kind must be one of {KINDS}, got {kind!r}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        self.kind = kind
        self.latent_dim = int(latent_dim)
        self.hidden = int(hidden)
        self.modulated_layers = layers - 1
        n_shift = self.modulated_layers * hidden
        n_out = n_shift * (2 if kind == "scale_shift" else 1)
        bound = 1.0 / math.sqrt(latent_dim)
        self.mapping_weight = nn.Parameter(
            (torch.rand(n_out, latent_dim, generator=generator) * 2 - 1) * bound)
        self.mapping_bias = nn.Parameter(torch.zeros(n_out))

    @property
    def latent_index(self) -> int:
        """Position of z in the per-task parameter list."""
        return len(self.params) + 2

    def batched(self, batch: int) -> list[torch.Tensor]:
        """θ, M, c expanded to B tasks, and z_i⁰ = 0 (B×d, a leaf that requires grad)."""
        shared = super().batched(batch) + [
            p.unsqueeze(0).expand(batch, *p.shape) for p in (self.mapping_weight, self.mapping_bias)]
        ref = self.mapping_weight
        z = torch.zeros(batch, self.latent_dim, dtype=ref.dtype, device=ref.device, requires_grad=True)
        return shared + [z]

    def modulations(self, params: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """Per hidden layer: shifts β_l (B×hidden) and, for scale_shift, scales γ_l = 1 + ·."""
        mapping_weight, mapping_bias, z = params[-3], params[-2], params[-1]
        out = torch.baddbmm(mapping_bias.unsqueeze(1), z.unsqueeze(1),
                            mapping_weight.transpose(1, 2)).squeeze(1)
        chunks = list(out.split(self.hidden, dim=1))
        shifts = chunks[: self.modulated_layers]
        scales = [1.0 + s for s in chunks[self.modulated_layers:]] if self.kind == "scale_shift" else None
        return shifts, scales

    def forward_raw(self, params: Sequence[torch.Tensor], coords: torch.Tensor) -> torch.Tensor:
        """B×P×out before the (s + 1)/2 of :meth:`render`."""
        weights = list(params[: len(self.params)])
        shifts, scales = self.modulations(params)
        if scales is None:
            # the shift enters as a per-task bias: b_l + β_l (exactly b_l when β_l = 0)
            for layer, beta in enumerate(shifts):
                weights[2 * layer + 1] = weights[2 * layer + 1] + beta
            return siren_forward(weights, coords, self.omega0, batched=self.batched_forward)
        return siren_forward(weights, coords, self.omega0, scales=scales, shifts=shifts,
                             batched=self.batched_forward)

    def render(self, params: Sequence[torch.Tensor], height: int, width: int,
               coords: torch.Tensor | None = None) -> torch.Tensor:
        """Image φ as B×C×H×W from per-task parameters (θ, M, c, z)."""
        if coords is None:
            coords = coordinate_grid(height, width, params[0].device, params[0].dtype)
        s = self.forward_raw(params, coords)
        batch = s.shape[0]
        return (s.transpose(1, 2).reshape(batch, self.out_features, height, width) + 1.0) * 0.5


__all__ = ["ModulatedSiren", "KINDS"]
