"""Learned inner-loop learning rates (Algorithm 1, line 5: θ ← θ − α ∇L).

* ``per_step`` (paper §4.1.1): one scalar α_k per inner step k ∈ [1, m], initialised at 0.01.
* ``meta_sgd`` (Li et al. 2017, paper §4.1.2 and §4.2): one rate per parameter element and per
  step, β_ij, tensors shaped like θ.

Both are trained by the outer optimiser alongside θ. With all Meta-SGD rates equal to α_k,
``meta_sgd`` reduces exactly to ``per_step``.

Which per-task tensors the inner loop adapts (``adapted``: their indices in the network's
per-task parameter list, default all of them) is part of this module: rates exist only for
those tensors (e.g. for a latent z ∈ ℝ^d alone, Meta-SGD learns one rate per latent dimension
and step), and :func:`metainv.meta.maml.adapt` updates only them.

Parametrisation (``param``):

* ``linear``: the trained tensor is α itself. Adam moves each entry by at most ≈ its learning
  rate per step whatever α's size, so a rate learning rate of 1e-5 moves α by ≤ 0.3 in 30,000
  steps — an α that must grow from 0.01 to O(1) never gets there.
* ``log``: the trained tensor is s with α = exp(s). Adam then moves α by a bounded *factor*
  per step, e^{±lr}: the same learning rate suits rates of any size (0.01 or 10), α stays
  positive, and lr = 0.02 can cross two decades in a few hundred steps.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

SCHEMES = ("per_step", "meta_sgd")
PARAMS = ("linear", "log")


class InnerLearningRates(nn.Module):
    """α for each inner step (and, for Meta-SGD, each parameter element)."""

    def __init__(self, param_shapes: Sequence[torch.Size], steps: int, scheme: str = "per_step",
                 init: float = 0.01, param: str = "linear", adapted: Sequence[int] | None = None,
                 max_rate: float | None = None):
        super().__init__()
        if scheme not in SCHEMES:
            raise ValueError(f"inner lr scheme must be one of {SCHEMES}, got {scheme!r}")
        if param not in PARAMS:
            raise ValueError(f"inner lr parametrisation must be one of {PARAMS}, got {param!r}")
        if param == "log" and init <= 0:
            raise ValueError(f"log-space inner rates need a positive initial rate, got {init}")
        if max_rate is not None and not 0 < init <= max_rate:
            raise ValueError(f"the initial inner rate {init} must lie in (0, max_rate = {max_rate}]")
        self.scheme = scheme
        self.param = param
        self.max_rate = max_rate
        self.steps = int(steps)
        if adapted is None:
            adapted = range(len(param_shapes))
        self.adapted = tuple(int(i) for i in adapted)
        if not self.adapted or sorted(set(self.adapted)) != list(self.adapted) or not all(
                0 <= i < len(param_shapes) for i in self.adapted):
            raise ValueError(f"adapted must be increasing indices into {len(param_shapes)} "
                             f"parameter tensors, got {self.adapted}")
        param_shapes = [param_shapes[i] for i in self.adapted]
        self.n_params = len(param_shapes)
        value = math.log(init) if param == "log" else float(init)
        if scheme == "per_step":
            self.rates = nn.ParameterList([nn.Parameter(torch.full((self.steps,), value))])
        else:
            self.rates = nn.ParameterList(
                nn.Parameter(torch.full(tuple(shape), value))
                for _ in range(self.steps) for shape in param_shapes
            )

    @torch.no_grad()
    def clip_(self) -> None:
        """Project every rate onto (0, ``max_rate``] (linear: [0, max_rate]) after an outer update,
        as Functa clips its Meta-SGD rates; nothing without ``max_rate``."""
        if self.max_rate is None:
            return
        for t in self.rates:
            if self.param == "log":
                t.clamp_(max=math.log(self.max_rate))
            else:
                t.clamp_(min=0.0, max=self.max_rate)

    def _value(self, t: torch.Tensor) -> torch.Tensor:
        return t.exp() if self.param == "log" else t

    def rate(self, step: int, index: int) -> torch.Tensor:
        """α for inner step ``step`` and the ``index``-th *adapted* tensor (the network's
        tensor ``adapted[index]``), broadcastable to B×shape. A step past the last trained
        one (more inner steps at evaluation than in training) reuses the last step's rate."""
        step = min(int(step), self.steps - 1)
        if self.scheme == "per_step":
            return self._value(self.rates[0][step])
        return self._value(self.rates[step * self.n_params + index]).unsqueeze(0)

    @torch.no_grad()
    def summary(self) -> dict[str, float]:
        """The current rates for the training log: ``rate_k`` per step (per_step), or
        ``rate_k_mean``/``_min``/``_max`` over all parameter elements of step k (meta_sgd)."""
        out: dict[str, float] = {}
        if self.scheme == "per_step":
            for k, a in enumerate(self._value(self.rates[0]).tolist()):
                out[f"rate_{k}"] = a
            return out
        for k in range(self.steps):
            a = torch.cat([self._value(self.rates[k * self.n_params + i]).flatten()
                           for i in range(self.n_params)])
            out[f"rate_{k}_mean"] = a.mean().item()
            out[f"rate_{k}_min"] = a.min().item()
            out[f"rate_{k}_max"] = a.max().item()
        return out
