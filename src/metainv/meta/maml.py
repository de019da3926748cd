"""The inner loop (Algorithm 1) and the outer objective (Eq. 5, Algorithm 2).

Inner loss (Eq. 4), per task i:  L(θ_i, y_i) = ‖A f(φ_{θ_i}) − y_i‖²  (sum over pixels).
Inner update:                     θ_i^{k+1} = θ_i^k − α_k ∇_{θ_i^k} L(θ_i^k, y_i).
Output:                           x_i = f(φ_{θ_i^m}).
Outer loss (Eq. 5):               mean over tasks of L1 / L2 (mean over pixels) between x_i
                                  and the ground truth; minimised over θ (and the α's).

All B tasks of a meta-batch run together: θ carries a task dimension and the inner gradient
of every task comes from one ``torch.autograd.grad`` of the summed loss (tasks are independent,
so ∂(Σ_j L_j)/∂θ_i = ∂L_i/∂θ_i). Second-order meta-gradients keep the graph of the inner
gradients (``create_graph=True``); first-order MAML drops it (∇θ_i^m/∇θ ≈ I).

Which tensors the inner update touches is ``rates.adapted`` (:func:`adapted_indices`): all of
them (the paper), only the latent z of a :class:`~metainv.nets.modulated_siren.ModulatedSiren`
(paper §5, Functa), or only the last layers of the SIREN. The others stay at the shared θ,
which the outer loss still trains through every render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from metainv.meta.inner_lr import InnerLearningRates
from metainv.nets.modulated_siren import ModulatedSiren
from metainv.nets.siren import Siren
from metainv.physics import LinearOperator
from metainv.solvers import Solver  # f(x0, y, op) -> x: the classical solver run on the SIREN's image



def data_fidelity(x: torch.Tensor, y: torch.Tensor, op: LinearOperator,
                  reduction: str = "sum") -> torch.Tensor:
    """Per-task inner loss, shape B: ‖A x − y‖² summed over pixels (Eq. 4, ``sum``) or divided
    by the number of measured values (``mean``: the same step size then suits any image size
    and any number of observed pixels)."""
    loss = (op.forward(x) - y).pow(2).flatten(1).sum(1)
    if reduction == "mean":
        return loss / op.measured_entries(y).clamp(min=1)
    if reduction != "sum":
        raise ValueError(f"unknown inner loss reduction {reduction!r}")
    return loss


ADAPT = ("all", "latent", "last")


def task_shapes(net: Siren) -> list[torch.Size]:
    """Shapes (without the task dimension) of the network's per-task parameter list."""
    return [p.shape[1:] for p in net.batched(1)]


def adapted_indices(net: Siren, adapt: str, last_layers: int = 1) -> tuple[int, ...]:
    """Indices into ``net.batched(B)`` that the inner loop updates.

    ``all``: every per-task tensor (for a ModulatedSiren also M, c and z); ``latent``: z only
    (a ModulatedSiren); ``last``: W, b of the last ``last_layers`` linear layers of the SIREN.
    """
    n = len(task_shapes(net))
    if adapt == "all":
        return tuple(range(n))
    if adapt == "latent":
        if not isinstance(net, ModulatedSiren):
            raise ValueError("inner.adapt: latent needs a modulated SIREN (siren.modulation.kind)")
        return (net.latent_index,)
    if adapt == "last":
        layers = len(net.params) // 2
        if not 1 <= int(last_layers) <= layers:
            raise ValueError(f"inner.last_layers must be in [1, {layers}], got {last_layers}")
        return tuple(range(2 * (layers - int(last_layers)), 2 * layers))
    raise ValueError(f"inner.adapt must be one of {ADAPT}, got {adapt!r}")


def adapted_count(net: Siren, adapted: Sequence[int]) -> int:
    """Number of scalars per task that the inner loop adapts (the capacity of the inner loop)."""
    shapes = task_shapes(net)
    return sum(shapes[i].numel() for i in adapted)


@dataclass
class InnerResult:
    output: torch.Tensor                       # x = f(φ_{θ_m}), B×C×H×W
    params: list[torch.Tensor]                 # θ_m, per task
    inner_losses: list[torch.Tensor] = field(default_factory=list)  # mean over tasks, per step
    instruments: InnerInstruments | None = None  # with adapt(..., instruments=True)


@dataclass
class InnerInstruments:
    """What the inner loop did, per task (detached; :func:`adapt` with ``instruments=True``).

    ``start_output``: f(φ_θ), the final solver on the shared start, no inner step (m = 0);
    ``final_inner_loss``: L_in after the last update (the loop records it before each);
    ``noise_floor_ratio``: ‖A f(φ_{θ_m}) − y‖² / (N σ²), ≈ 1 when the fit reaches the noise
    (None without noise); ``relative_change``: ‖θ_m − θ_0‖ / ‖θ_0‖ over the per-task tensors.
    """

    start_output: torch.Tensor
    final_inner_loss: torch.Tensor
    noise_floor_ratio: torch.Tensor | None
    relative_change: torch.Tensor


def adapt(
    siren: Siren,
    rates: InnerLearningRates,
    y: torch.Tensor,
    op: LinearOperator,
    solver: Solver,
    steps: int,
    second_order: bool = True,
    track_meta_gradient: bool = True,
    final_solver: Solver | None = None,
    reduction: str = "mean",
    instruments: bool = False,
) -> InnerResult:
    """Algorithm 1 for a batch of measurements y (B×…; the SIREN renders ``op.image_size(y)``); the inner update changes only the
    tensors ``rates.adapted`` of ``siren.batched(B)`` (a ModulatedSiren's z starts at 0).

    ``track_meta_gradient=False`` is the inference path: each θ_i^k is detached after its
    update so memory does not grow with m. ``final_solver`` replaces f in line 6 (e.g. the
    evaluation step size); by default it is ``solver``. ``reduction``: see :func:`data_fidelity`.
    ``steps`` may exceed the rates' steps (evaluation): the extra steps reuse the last rate.
    ``instruments``: also measure :class:`InnerInstruments` (no gradient; one more call of f).
    """
    batch, (height, width) = y.shape[0], op.image_size(y)
    adapted = rates.adapted
    params = siren.batched(batch)
    if not track_meta_gradient:
        params = [p.detach().requires_grad_(i in adapted) for i, p in enumerate(params)]
    start = params
    losses = []
    start_output = None  # f(φ_θ): the first inner step computes it
    for k in range(steps):
        with torch.enable_grad():
            x = solver(siren.render(params, height, width), y, op)
            if k == 0:
                start_output = x.detach()
            loss = data_fidelity(x, y, op, reduction)
            grads = torch.autograd.grad(loss.sum(), [params[i] for i in adapted],
                                        create_graph=second_order and track_meta_gradient)
        losses.append(loss.detach().mean())
        params = list(params)
        for j, (i, g) in enumerate(zip(adapted, grads)):
            params[i] = params[i] - rates.rate(k, j) * g
            if not track_meta_gradient:
                params[i] = params[i].detach().requires_grad_(True)
    final = final_solver or solver
    with torch.set_grad_enabled(track_meta_gradient):
        x = final(siren.render(params, height, width), y, op)
    result = InnerResult(output=x, params=params, inner_losses=losses)
    if instruments:
        if final is not solver:  # the first inner step ran f, not the final solver
            start_output = None
        result.instruments = _measure_inner_loop(siren, start, params, x, y, op, solver, final, reduction,
                                                 start_output)
    return result


@torch.no_grad()
def _measure_inner_loop(siren: Siren, start: list[torch.Tensor], params: list[torch.Tensor],
                        x: torch.Tensor, y: torch.Tensor, op: LinearOperator, solver: Solver,
                        final: Solver, reduction: str, start_output: torch.Tensor | None) -> InnerInstruments:
    """``start_output``: f(φ_θ) when the loop already computed it with ``final`` (else recomputed)."""
    height, width = op.image_size(y)
    if start_output is None:
        start_output = final(siren.render(start, height, width), y, op)
    fitted = x if final is solver else solver(siren.render(params, height, width), y, op)
    sigma = float(op.noise_std)
    ratio = None
    if sigma > 0:
        ratio = data_fidelity(fitted, y, op, "sum") / (op.measured_entries(y).clamp(min=1) * sigma**2)
    change = sum((p - p0).flatten(1).pow(2).sum(1) for p, p0 in zip(params, start))
    size = sum(p0.flatten(1).pow(2).sum(1) for p0 in start)
    return InnerInstruments(start_output=start_output.detach(),
                            final_inner_loss=data_fidelity(fitted, y, op, reduction).detach(),
                            noise_floor_ratio=ratio, relative_change=(change / size).sqrt().detach())


def outer_loss(x: torch.Tensor, target: torch.Tensor, kind: str = "l2") -> torch.Tensor:
    """Distance between adapted solutions and ground truth (Eq. 5), mean over tasks/pixels."""
    if kind == "l2":
        return (x - target).pow(2).mean()
    if kind == "l1":
        return (x - target).abs().mean()
    raise ValueError(f"unknown outer loss {kind!r}")


def make_outer_loss(kind: str, device: torch.device | str = "cpu", lpips_net: str | None = None,
                    lpips_random_backbone: bool = False) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The outer loss of an experiment: ``l1``, ``l2`` or ``lpips`` (paper §4.2, Tables 3–4);
    ``lpips_net`` (alex | vgg) is required with lpips."""
    if kind == "lpips":
        from metainv.perceptual import LPIPSLoss

        if lpips_net is None:
            raise ValueError("an lpips outer loss needs lpips_net (alex | vgg)")
        return LPIPSLoss(lpips_net, device, lpips_random_backbone)
    outer_loss(torch.zeros(1), torch.zeros(1), kind)  # validates the name now, not at step 1
    return lambda x, target: outer_loss(x, target, kind)
