"""Unrolled RED(K) and HQS(K) with a trainable denoiser (paper §4.2, Table 4; Diamond et al. 2018).

The classical solver run for a fixed K iterations from x₀ = y is a differentiable map
y ↦ x_K(y; w) of the DnCNN weights w (:mod:`metainv.solvers.red`, :mod:`metainv.solvers.hqs`
never detach). Unrolling trains w end to end with L2 to ground truth,

    min_w  E ‖x_K(y; w) − x‖²,

starting from the pretrained DnCNN. K = 12 = 3 × (3 + 1), the solver updates of Meta-RED.

What is learned: the DnCNN weights only. The solver parameters (RED: λ, σ_f, θ; HQS: λ and
the σ_k schedule) stay at the values tuned for the classical RED(12)/HQS(12) baselines —
the paper fine-tunes "the DnCNN denoiser in RED/HQS", and Meta-RED (fine-tuned) also keeps
the tuned λ, σ_f, so both Table 4 methods differ from Table 3 by the same trained weights.

The DnCNN stays in eval mode (BatchNorm running statistics) while its weights train: it is
applied at rescaled inputs (:func:`metainv.nets.dncnn.denoise_at_level`), where batch
statistics would not match the ones it was trained with. At initialisation the module
reproduces the classical solver exactly.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from metainv.nets.dncnn import inference_denoiser
from metainv.solvers import DENOISING, build_solver, check_params


class UnrolledSolver(nn.Module):
    """RED or HQS, ``steps`` iterations from y, with ``denoiser`` as a trainable submodule.

    ``checkpoint_denoiser`` recomputes each DnCNN call's activations in the backward pass
    (memory ∝ one call instead of K calls, one extra forward per call).
    """

    def __init__(self, method: str, denoiser: nn.Module, params: Mapping[str, Any], steps: int,
                 checkpoint_denoiser: bool = False):
        super().__init__()
        if method not in DENOISING:
            raise ValueError(f"unknown unrolled method {method!r}; known: {list(DENOISING)}")
        params = check_params(method, params, key=f"unrolled {method}.params")
        if steps < 1:
            raise ValueError("an unrolled solver needs steps ≥ 1")
        self.method, self.params, self.steps = method, dict(params), int(steps)
        self.checkpoint_denoiser = bool(checkpoint_denoiser)
        self.denoiser = denoiser
        self.denoiser.eval()

    def train(self, mode: bool = True) -> "UnrolledSolver":
        """Switch the module, but keep the DnCNN's BatchNorm on its running statistics."""
        super().train(mode)
        self.denoiser.eval()
        return self

    def forward(self, y: torch.Tensor, op: Any) -> torch.Tensor:
        """x_K from x_0 = y: the registry's RED/HQS (:func:`metainv.solvers.build_solver`).
        Without autograd (reconstruction, the tuning curve) the DnCNN runs with its BatchNorm
        folded, as the classical solvers run it, so an untrained module gives their output to
        the bit on any CPU."""
        config = {"kind": self.method, "steps": self.steps, "checkpoint_denoiser": self.checkpoint_denoiser}
        denoiser = self.denoiser if torch.is_grad_enabled() else inference_denoiser(self.denoiser)
        return build_solver(config, denoiser=denoiser, params=self.params)(None, y, op)

    def hparams(self) -> dict:
        return {"method": self.method, "params": self.params, "steps": self.steps}


__all__ = ["UnrolledSolver"]
