"""Learned inner-loop learning rates (Algorithm 1, line 5: θ ← θ − α ∇L).

* ``per_step`` (paper §4.1.1): one scalar α_k per inner step k ∈ [1, m], initialised at 0.01.
* ``meta_sgd`` (Li et al. 2017, paper §4.1.2 and §4.2): one rate per parameter element and per
  step, β_ij, tensors shaped like θ.

Both are trained by the outer optimiser alongside θ. With all Meta-SGD rates equal to α_k,
``meta_sgd`` reduces exactly to ``per_step``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

SCHEMES = ("per_step", "meta_sgd")


class InnerLearningRates(nn.Module):
    """α for each inner step (and, for Meta-SGD, each parameter element)."""

    def __init__(self, param_shapes: Sequence[torch.Size], steps: int, scheme: str = "per_step",
                 init: float = 0.01):
        super().__init__()
        if scheme not in SCHEMES:
            raise ValueError(f"inner lr scheme must be one of {SCHEMES}, got {scheme!r}")
        self.scheme = scheme
        self.steps = int(steps)
        self.n_params = len(param_shapes)
        if scheme == "per_step":
            self.rates = nn.ParameterList([nn.Parameter(torch.full((self.steps,), float(init)))])
        else:
            self.rates = nn.ParameterList(
                nn.Parameter(torch.full(tuple(shape), float(init)))
                for _ in range(self.steps) for shape in param_shapes
            )

    def rate(self, step: int, index: int) -> torch.Tensor:
        """α for inner step ``step`` and parameter tensor ``index``, broadcastable to B×shape."""
        if self.scheme == "per_step":
            return self.rates[0][step]
        return self.rates[step * self.n_params + index].unsqueeze(0)
