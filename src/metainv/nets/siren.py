"""SIREN (Sitzmann et al. 2020) with per-task weights: φ_θ(coords) for a meta-batch at once.

The module holds the meta-parameters θ (the shared initialisation, no task dimension).
:meth:`Siren.batched` expands them to a leading task dimension B, and :func:`siren_forward`
evaluates B independent SIRENs, so inner-loop updates can give every task its own weights θ_i:
on the CPU one ``F.linear`` (addmm) per task and layer, elsewhere one ``baddbmm`` per layer for
all tasks (why: docs, development, "Against the libraries").

Layer l (l < L):  h ← sin(ω₀ (h W_lᵀ + b_l));   last layer:  s = h W_Lᵀ + b_L.
The network represents the image in [−1, 1] (as in SIREN's image fitting), so the image is
φ_θ = (s + 1) / 2 ∈ [0, 1] nominally (not clamped: solvers see the raw value).

Initialisation (SIREN §3.2, ARCHITECTURE.md "Numerics"): first layer W ~ U(−1/n, 1/n), other layers
W ~ U(−√(6/n)/ω₀, √(6/n)/ω₀), with n the layer's fan-in; biases U(−1/√n, 1/√n) (PyTorch's
``nn.Linear`` default, as in the reference implementation).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def coordinate_grid(height: int, width: int, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(H·W)×2 pixel-centre coordinates in [−1, 1], row-major (y, x)."""
    ys = torch.linspace(-1.0, 1.0, height, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=device, dtype=dtype)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)
    return grid.reshape(-1, 2)


def siren_forward(params: Sequence[torch.Tensor], coords: torch.Tensor, omega0: float,
                  scales: Sequence[torch.Tensor] | None = None, shifts: Sequence[torch.Tensor] | None = None,
                  batched: bool | None = None) -> torch.Tensor:
    """Evaluate B SIRENs: params alternate W (B×out×in), b (B×out); coords P×d → B×P×out.

    ``scales`` / ``shifts`` (one B×hidden tensor per hidden layer, FiLM): hidden layer l becomes
    h ← sin(ω₀ (γ_l ⊙ (W_l h + b_l) + β_l)). ``batched``: one ``baddbmm`` per layer for all
    tasks (True) or one ``F.linear`` per task and layer (False); default: per task on the CPU
    (the faster there, measured: docs, development), batched elsewhere.
    """
    if (scales is None) != (shifts is None):
        raise ValueError("FiLM needs both scales and shifts (a shift alone is a bias: add it to b_l)")
    if batched is None:
        batched = params[0].device.type != "cpu"
    if batched:
        film = None if scales is None else ([g.unsqueeze(1) for g in scales], [b.unsqueeze(1) for b in shifts])
        h = coords.unsqueeze(0).expand(params[0].shape[0], *coords.shape)
        return _layers(params, h, omega0, film, lambda x, w, b: torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2)))
    per_task = list(zip(*(p.unbind(0) for p in params)))  # per task: W_0, b_0, W_1, …
    if scales is None:
        return torch.stack([_layers(w, coords, omega0, None, F.linear) for w in per_task])
    gammas = list(zip(*(t.unbind(0) for t in scales)))
    betas = list(zip(*(t.unbind(0) for t in shifts)))
    return torch.stack([_layers(w, coords, omega0, (g, b), F.linear) for w, g, b in zip(per_task, gammas, betas)])


def _layers(params: Sequence[torch.Tensor], h: torch.Tensor, omega0: float,
            film: tuple[Sequence[torch.Tensor], Sequence[torch.Tensor]] | None, linear) -> torch.Tensor:
    """The SIREN's layers on h with ``linear(h, W, b)``; ``film``: (γ_l, β_l) broadcastable to h."""
    n_layers = len(params) // 2
    for layer in range(n_layers):
        h = linear(h, params[2 * layer], params[2 * layer + 1])
        if layer < n_layers - 1:
            if film is not None:
                h = film[0][layer] * h + film[1][layer]
            h = torch.sin(omega0 * h)
    return h


class Siren(nn.Module):
    """Meta-parameters θ of a SIREN with ``layers`` linear layers (paper: 5 × 256)."""

    #: :func:`siren_forward`'s ``batched`` for :meth:`render` (None: chosen by device)
    batched_forward: bool | None = None

    def __init__(self, *, hidden: int, layers: int, omega0: float, in_features: int = 2,
                 out_features: int = 3, generator: torch.Generator | None = None):
        super().__init__()
        if layers < 2:
            raise ValueError("a SIREN needs at least 2 layers (input and output)")
        self.omega0 = float(omega0)
        self.out_features = out_features
        sizes = [in_features] + [hidden] * (layers - 1) + [out_features]
        self.params = nn.ParameterList()
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / self.omega0
            weight = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
            bias_bound = 1.0 / math.sqrt(fan_in)
            bias = (torch.rand(fan_out, generator=generator) * 2 - 1) * bias_bound
            self.params.append(nn.Parameter(weight))
            self.params.append(nn.Parameter(bias))

    @staticmethod
    def weight_bounds(in_features: int, hidden: int, layers: int, omega0: float) -> list[float]:
        """The uniform bound of each layer's weights (used by the initialisation tests)."""
        fans = [in_features] + [hidden] * (layers - 1)
        return [1.0 / fans[0]] + [math.sqrt(6.0 / n) / omega0 for n in fans[1:]]

    def batched(self, batch: int) -> list[torch.Tensor]:
        """θ expanded to B tasks (θ_i⁰ = θ); gradients flow back to θ through the expand."""
        return [p.unsqueeze(0).expand(batch, *p.shape) for p in self.params]

    def render(self, params: Sequence[torch.Tensor], height: int, width: int,
               coords: torch.Tensor | None = None) -> torch.Tensor:
        """Image φ_θ as B×C×H×W from per-task parameters."""
        if coords is None:
            coords = coordinate_grid(height, width, params[0].device, params[0].dtype)
        s = siren_forward(params, coords, self.omega0, batched=self.batched_forward)
        batch = s.shape[0]
        return (s.transpose(1, 2).reshape(batch, self.out_features, height, width) + 1.0) * 0.5
