"""Classical iterative solvers f(x0, y, op) -> x, batched and differentiable, and ONE registry.

:func:`build_solver` turns a solver config into a :class:`Solver`, whichever stage asks: the
``solver`` block of a meta experiment (f inside the inner loop, Eq. 6 / RED) and the
``classical`` block of a RED / HQS baseline (``kind`` = the experiment's method). The solver
parameters each kind accepts are named once, in :data:`PARAMETERS`; the config resolution
(:mod:`metainv.config`) checks specs against it; they live in the torch-free
:mod:`metainv.specs.solver_kinds` so that resolving a config (every ``snakemake`` call) does
not load torch.

=====  ==========================================  ========================================
kind   update                                      parameters
=====  ==========================================  ========================================
none   x = x0 (Table 2: the SIREN is the solution)  —
gd     x ← x − α Aᵀ(Ax − y), Eq. 6                  step_size (eval_step_size at evaluation)
red    RED fixed point (Romano et al. 2017)         lam, sigma_f, relax
hqs    HQS with DPIR's σ_k schedule                 lam, sigma_start, sigma_end, relax
tv     ADMM for ½‖Ax − y‖² + λ TV(x)             lam (λ), rho (ρ); no denoiser
=====  ==========================================  ========================================

Every kind runs ``steps`` updates, or with ``tol`` until each image's relative change is below
it (at most ``max_steps``); see :mod:`metainv.solvers.iterate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from metainv.errors import ConfigError
from metainv.nets.dncnn import inference_denoiser
from metainv.physics import LinearOperator, select
from metainv.specs.solver_kinds import DENOISING, PARAMETERS, REQUIRED, check_params
from metainv.solvers.gd import gradient_descent
from metainv.solvers.hqs import hqs
from metainv.solvers.red import red
from metainv.solvers.tv import tv_admm

class CheckpointedDenoiser(nn.Module):
    """A denoiser whose activations are recomputed in the backward pass instead of stored.

    Inside Meta-RED every inner step backpropagates through f RED updates, each calling the
    DnCNN, and the outer step differentiates that again (second order): storing every DnCNN
    activation is what binds memory. ``torch.utils.checkpoint`` (non-reentrant, which supports
    double backward) trades it for one extra forward per call. Exposes the wrapped net's
    ``noise_level`` so noise-level scaling (:func:`denoise_at_level`) is unchanged.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    @property
    def noise_level(self):  # noqa: D401 - mirrors DnCNN's buffer
        return getattr(self.net, "noise_level", None)

    @property
    def sigma0(self):  # noqa: D401 - mirrors DnCNN's Python float (read without a device sync)
        return getattr(self.net, "sigma0", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return self.net(x)
        return checkpoint(self.net, x, use_reentrant=False)


@dataclass(frozen=True)
class Solver:
    """f(x0, y, op) → x: one configured solver (build it with :func:`build_solver`).

    ``x0`` None starts from the operator's input image (y for masks and blur, A⁺y for
    compressed sensing: :meth:`~metainv.physics.LinearOperator.input_image`; the classical
    baselines). Calling returns x; :meth:`run`
    returns (x, info) with per-image iteration counts (``info["steps"]``).
    """

    kind: str
    steps: int
    step_size: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    denoiser: nn.Module | None = None
    tol: float | None = None
    max_steps: int | None = None

    def __call__(self, x0: torch.Tensor | None, y: torch.Tensor, op: LinearOperator) -> torch.Tensor:
        return self.run(x0, y, op)[0]

    def run(self, x0: torch.Tensor | None, y: torch.Tensor, op: LinearOperator
            ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x0 = op.input_image(y) if x0 is None else x0
        counts = torch.full((y.shape[0],), self.steps, dtype=torch.long, device=y.device)
        if self.kind == "none":
            return x0, {"steps": counts.zero_()}
        if self.kind == "gd":
            return gradient_descent(x0, y, op, step_size=self.step_size, steps=self.steps), {"steps": counts}
        common = dict(steps=self.steps, tol=self.tol, return_info=True, **self.params)
        if self.max_steps is not None:
            common["max_steps"] = self.max_steps
        if self.kind == "red":
            return red(x0, y, op, self.denoiser, **common)
        if self.kind == "tv":
            return tv_admm(x0, y, op, **common)
        return hqs(x0, y, op, self.denoiser, schedule_steps=self.steps, **common)

    @torch.no_grad()
    def solve_in_batches(self, y: torch.Tensor, op: LinearOperator, batch_size: int
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Solve all of ``y`` from y in memory-sized batches (each one batched solve, with its
        slice of a per-image operator: :func:`metainv.physics.select`); returns (x, per-image
        iteration counts). No gradient reaches the denoiser here, so it runs as
        :func:`metainv.nets.dncnn.inference_denoiser` makes it (BatchNorm folded)."""
        solver = self if self.denoiser is None else replace(self, denoiser=inference_denoiser(self.denoiser))
        outs, counts = [], []
        for start in range(0, len(y), batch_size):
            index = slice(start, start + batch_size)
            x, info = solver.run(None, y[index], select(op, index))
            outs.append(x)
            counts.append(info["steps"])
        return torch.cat(outs), torch.cat(counts)


def build_solver(config: Mapping[str, Any], *, evaluation: bool = False, denoiser: nn.Module | None = None,
                 params: Mapping[str, Any] | None = None, key: str = "solver",
                 fold_frozen_denoiser: bool = True) -> Solver:
    """The one registry: a :class:`Solver` from a solver config.

    ``config``: ``kind`` (none | gd | red | hqs | tv), ``steps``, and as the kind needs
    ``step_size`` / ``eval_step_size`` (gd; ``evaluation`` picks the latter), ``params``
    (:data:`PARAMETERS`; ``params`` given here, e.g. tuned ones, replace the config's),
    ``tol`` / ``max_steps`` (run to convergence) and ``checkpoint_denoiser``.

    A denoiser whose weights are frozen (no parameter requires grad) runs as
    :func:`metainv.nets.dncnn.inference_denoiser` makes it (a DnCNN with BatchNorm folded):
    the same map, and gradients still flow through it to its input, as Meta-RED's inner loop
    needs. ``fold_frozen_denoiser=False`` keeps it as given (``benchmarks/meta_red.py``).
    """
    kind = config["kind"]
    chosen = dict(config.get("params") or {}) if params is None else dict(params)
    chosen = check_params(kind, chosen, key=f"{key}.params")
    if kind in DENOISING:
        if denoiser is None:
            raise ConfigError(f"{key}: solver kind {kind!r} needs a denoiser")
        if fold_frozen_denoiser and not any(p.requires_grad for p in denoiser.parameters()):
            denoiser = inference_denoiser(denoiser)
        if config.get("checkpoint_denoiser"):
            denoiser = CheckpointedDenoiser(denoiser)
    if kind != "none" and "steps" not in config:
        raise ConfigError(f"{key}.steps: a {kind} solver needs its number of steps")
    step = config.get("step_size")
    if evaluation and config.get("eval_step_size") is not None:
        step = config["eval_step_size"]
    max_steps = config.get("max_steps")
    return Solver(kind=kind, steps=int(config.get("steps") or 0), step_size=None if step is None else float(step),
                  params=chosen, denoiser=denoiser, tol=config.get("tol"),
                  max_steps=None if max_steps is None else int(max_steps))


__all__ = ["PARAMETERS", "REQUIRED", "Solver", "build_solver", "check_params", "CheckpointedDenoiser"]
