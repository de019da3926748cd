"""One experiment: a model per method, discriminated on ``method``.

``config.experiments.<id>`` is one of :class:`MetaExperiment` (SIREN initialisation +
meta-learning, §3), :class:`ClassicalExperiment` (RED / HQS with the DnCNN prior, §4.2; TV
with no learned prior, not in the paper),
:class:`UnetExperiment` (§4.1), :class:`UnrolledExperiment` (Table 4) and
:class:`InterpExperiment` (linear interpolation, a reference not in the paper). Each field
holds its default, range and description here and nowhere else; the defaults are the paper's
settings (§4). ``config.experiment_defaults`` is merged under the experiments whose method has
the key (a meta setting never reaches a RED or UNet experiment).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from metainv.specs.base import Keep, keep_field, NonNegativeInt, PositiveFloat, PositiveInt, Spec, field

def _relax_at_most_one(values: dict) -> dict:
    """θ of x ← (1 − θ)x + θT(x) lies in (0, 1]."""
    relax = values.get("relax")
    for r in relax if isinstance(relax, list) else [relax]:
        if r is not None and r > 1:
            raise ValueError(f"relax: {r} is above 1 (θ of x ← (1 − θ)x + θT(x) lies in (0, 1])")
    return values


#: Solver parameters by name (which names a solver kind takes: ``metainv.specs.solver_kinds.PARAMETERS``).
SolverParams = Annotated[dict[str, Annotated[float, Field(gt=0)] | None], AfterValidator(_relax_at_most_one)]
#: Parameter → values searched (their Cartesian product).
SolverGrid = Annotated[dict[str, Annotated[list[Annotated[float, Field(gt=0)] | None], Field(min_length=1)]],
                       AfterValidator(_relax_at_most_one)]


class Eval(Spec):
    """How the validation split is reconstructed."""

    batch_size: PositiveInt = field(25, "images reconstructed per batch (meta, unet, unrolled)")
    observed: int | Literal["half"] | None = field(
        None, "observed pixels per image at evaluation (random inpainting), or 'half' (the top half)")
    data_consistency: bool = field(
        False, "meta experiments with solver kind none on an inpainting task: after the inner loop, "
               "one gradient step of size 1 on ‖Ax − y‖², i.e. the observed pixels kept (not in the paper)")
    inner_steps: NonNegativeInt | None = field(
        None, "meta experiments: inner steps at evaluation (None: inner.steps; 0: f(φ_θ), the learned start "
              "alone); steps past inner.steps reuse the last step's rate")


class Modulation(Spec):
    """FiLM modulations of a shared SIREN (§5's proposal; Functa): a per-task latent z, mapped
    linearly to shifts (and scales) of every hidden layer, z = 0 at the start of each task."""

    kind: Literal["none", "shift", "scale_shift"] = field(
        "none", "none: a plain SIREN; shift: sin(ω₀(Wh + b + β)); scale_shift: sin(ω₀(γ⊙(Wh + b) + β))")
    latent_dim: PositiveInt = field(256, "size of the latent z")


class Siren(Spec):
    """The SIREN whose output starts the solver (§3; Sitzmann et al. 2020)."""

    hidden: PositiveInt = field(256, "hidden width")
    layers: Annotated[int, Field(ge=2)] = field(5, "layers, input and output included")
    omega0: PositiveFloat = field(30.0, "ω₀ of sin(ω₀(Wx + b))")
    modulation: Modulation = field(Modulation(), "FiLM modulation (not in the paper's experiments)")


class MetaSolver(Spec):
    """The classical solver f run on the SIREN's output (Eq. 6 for gd)."""

    kind: Literal["gd", "none", "red"] = field(
        "gd", "gd: Eq. 6; none: the SIREN output is the solution; red: RED with the DnCNN prior")
    steps: NonNegativeInt = field(1, "iterations of f per inner step")
    params: SolverParams | None = field(
        None, "RED's lam (λ), sigma_f (σ_f) and relax (θ) for kind red (with params_from: the ones replaced)")
    params_from: str | None = field(
        None, "id of a classical RED experiment whose tuned params.json f starts from (kind red); "
              "keys given in params replace its values")
    learn: list[Literal["lam", "sigma_f"]] = field(
        [], "RED parameters of f the outer loop meta-learns in log space (outer.solver_lr), starting "
            "from params / params_from; the classical baselines keep theirs")
    checkpoint_denoiser: bool = field(False, "recompute DnCNN activations in the backward pass (memory for compute)")
    step_size: PositiveFloat = field(0.9, "α of Eq. 6 in the inner loop (paper: 0.9, so the inner loss is not 0)")
    eval_step_size: PositiveFloat = field(
        1.0, "α of the final call of f at evaluation (Algorithm 1, line 6); 1 keeps observed pixels exactly")


class Finetune(Spec):
    """The pretrained DnCNN inside a red solver (Tables 3–4)."""

    finetune: bool = field(False, "train the DnCNN jointly in the outer loop (Table 4)")
    lr: PositiveFloat = field(1.0e-5, "Adam learning rate of the DnCNN when fine-tuned")


class Inner(Spec):
    """The inner loop (Algorithm 1): m gradient steps on ‖A f(φ) − y‖²."""

    steps: PositiveInt = Field(description="m, the inner SIREN updates (required: every experiment states it)")
    lr_scheme: Literal["per_step", "meta_sgd"] = field(
        "per_step", "per_step: one learned rate per inner step; meta_sgd: one per parameter and step")
    lr_init: PositiveFloat = field(0.01, "initial inner rate(s) α")
    lr_max: PositiveFloat | None = field(
        None, "upper bound of every inner rate α, enforced after each outer update (Functa clips its "
              "Meta-SGD rates to [0, 1]); None: unbounded")
    lr_param: Literal["linear", "log"] = field(
        "log", "how the outer optimiser sees the rates: log trains s with α = exp(s); linear trains α")
    order: Literal["first", "second"] = field("second", "meta-gradient order")
    loss_reduction: Literal["sum", "mean"] = field(
        "mean", "inner loss summed over measured values (Eq. 4) or divided by their number")
    adapt: Literal["all", "latent", "last"] = field(
        "all", "what the inner loop updates: every SIREN weight (the paper), the latent z only "
               "(a modulated SIREN), or the last `last_layers` layers")
    last_layers: PositiveInt = field(1, "layers adapted with adapt: last")


class Outer(Spec):
    """The outer loop (Algorithm 2): Adam on θ and the inner rates."""

    loss: Literal["l1", "l2", "lpips"] = field("l2", "outer loss between the adapted output and the image")
    lpips_net: Literal["alex", "vgg"] = field("vgg", "LPIPS trunk when loss is lpips")
    lr: PositiveFloat = field(1.0e-5, "Adam learning rate of θ")
    inner_lr_lr: PositiveFloat = field(
        0.02, "Adam learning rate of the inner rates (lr_param log: ≈ the largest relative change of α per step)")
    batch_size: PositiveInt = field(5, "tasks (images) per outer step, drawn with replacement from the training split")
    steps: NonNegativeInt = field(30000, "outer steps (30,000 × 5 = one pass over 150,000 images)")
    checkpoint_every: PositiveInt = field(200, "steps between checkpoints (a killed job resumes from the last)")
    validate_every: NonNegativeInt = field(1000, "steps between points of the tuning-split curve (0: none)")
    tuning_images: PositiveInt = field(
        16, "tuning-split images the training curve scores (never the validation split)")
    keep: Keep = keep_field()
    grad_clip: PositiveFloat | None = field(None, "clip the outer gradient to this global norm (None: off)")
    solver_lr: PositiveFloat = field(
        0.02, "Adam learning rate of f's log-parameters (solver.learn): ≈ the largest relative change per step")


class Tune(Spec):
    """Grid search of a classical solver's parameters on the tuning split."""

    images: PositiveInt = field(50, "tuning-split images solved per combination")
    grid: SolverGrid = field({}, "parameter → values; the Cartesian product is searched over `params`")


class Classical(Spec):
    """RED / HQS with the trained DnCNN prior, or TV-regularised least squares (no prior to train)."""

    steps: PositiveInt = field(
        12, "iterations without tol; HQS: also the length of the σ_k schedule, run in full before tol is checked")
    tol: PositiveFloat | None = field(
        None, "relative change ‖x_{k+1} − x_k‖/‖x_k‖ at which an image has converged; None = exactly `steps`")
    max_steps: PositiveInt = field(300, "iteration cap with tol")
    batch_size: PositiveInt = field(100, "images per batched solve")
    params: SolverParams = field(
        {}, "fixed parameters; RED: lam, sigma_f, relax; HQS: lam (ρ_k = λσ²/σ_k²), sigma_start, "
            "sigma_end (None = the noise level), relax; TV: lam (λ of ½‖Ax − y‖² + λ TV(x)) and rho "
            "(the splitting penalty ρ), both required here or in the grid")
    tune: Tune = field(Tune(), "the parameter search")


class Unet(Spec):
    """The UNet baseline: deepinv.models.UNet body, input [Aᵀy, mask], output Aᵀy + U(·)."""

    channels_per_scale: Annotated[list[PositiveInt], Field(min_length=2)] = field(
        [64, 128, 256, 512], "feature maps per stage, shallow to deep (one max-pool between stages)")
    batch_norm: bool = field(True, "BatchNorm after each convolution")
    start_at_input: bool = field(
        False, "zero-initialise the last 1×1 convolution: before training x̂ is the input image (the residual starts at 0)")


class Unrolled(Spec):
    """RED / HQS unrolled for a fixed number of iterations, the DnCNN fine-tuned end to end."""

    solver: Literal["red", "hqs"] = field("red", "the unrolled solver")
    steps: PositiveInt = field(12, "iterations (12 = 3 × (3 + 1), Meta-RED's solver updates)")
    params_from: str | None = field(None, "id of the classical experiment (same solver) whose params.json is the start")
    checkpoint_denoiser: bool = field(False, "recompute DnCNN activations in the backward pass (memory for compute)")


class Train(Spec):
    """Supervised training of a learned baseline (unet, unrolled): Adam, loss to ground truth."""

    loss: Literal["l1", "l2"] = field("l2", "loss to ground truth")
    lr: PositiveFloat = field(1.0e-4, "Adam learning rate")
    batch_size: PositiveInt = field(5, "images per step, drawn with replacement from the training split")
    steps: NonNegativeInt = field(30000, "Adam steps (Meta's budget: 30,000 × batch 5)")
    checkpoint_every: PositiveInt = field(500, "steps between checkpoints")
    validate_every: NonNegativeInt = field(1000, "steps between points of the tuning-split curve (0: none)")
    tuning_images: PositiveInt = field(16, "tuning-split images the training curve scores")
    keep: Keep = keep_field()
    grad_clip: PositiveFloat | None = field(None, "clip the gradient to this global norm (None: off)")


class ExperimentBase(Spec):
    """Keys every experiment has."""

    task: str = Field(description="name of a block of `tasks`")
    enabled: bool = field(True, "false keeps the experiment in the config (tables show 'not run') without running it")
    description: str | None = field(None, "free text")
    model_from: str | None = field(
        None, "id of another experiment of the same method and task whose trained model this one "
              "evaluates (its own `eval`, no training)")
    eval: Eval = field(Eval(), "evaluation on the validation split")


class MetaExperiment(ExperimentBase):
    """SIREN initialisation meta-learned for a solver (Algorithms 1–2)."""

    method: Literal["meta"] = field("meta", "SIREN + meta-learning (the default method)")
    siren: Siren = field(Siren(), "the SIREN")
    solver: MetaSolver = field(MetaSolver(), "the solver f in the inner loop")
    denoiser: Finetune = field(Finetune(), "the DnCNN of a red solver")
    inner: Inner = Field(description="the inner loop")
    outer: Outer = field(Outer(), "the outer loop")

    @model_validator(mode="after")
    def _adapted_parameters_exist(self):
        if self.inner.adapt == "latent" and self.siren.modulation.kind == "none":
            raise ValueError("inner.adapt: 'latent' needs a modulated SIREN (siren.modulation.kind shift "
                             "or scale_shift)")
        if self.inner.adapt == "last" and self.inner.last_layers > self.siren.layers:
            raise ValueError(f"inner.last_layers: {self.inner.last_layers} adapted layers, but the SIREN "
                             f"has {self.siren.layers}")
        return self


class ClassicalExperiment(ExperimentBase):
    """RED or HQS with the DnCNN prior, or TV (no DnCNN), parameters searched on the tuning split."""

    method: Literal["red", "hqs", "tv"] = Field(
        description="red: RED fixed point; hqs: HQS as in DPIR; tv: HQS for ½‖Ax − y‖² + λ TV(x) "
                    "(deepinv's TV prox, no DnCNN; not in the paper)")
    classical: Classical = field(Classical(), "solver settings and search")


class UnetExperiment(ExperimentBase):
    """The UNet baseline of Tables 1–2."""

    method: Literal["unet"] = Field(description="UNet from the zero-filled measurement and the mask")
    unet: Unet = field(Unet(), "the network")
    train: Train = field(Train(), "supervised training")


class UnrolledExperiment(ExperimentBase):
    """RED(12) / HQS(12) unrolled, DnCNN fine-tuned (Table 4)."""

    method: Literal["unrolled"] = Field(description="a classical solver unrolled, its DnCNN fine-tuned")
    unrolled: Unrolled = field(Unrolled(), "the unrolled solver")
    train: Train = field(Train(), "supervised training")


class InterpExperiment(ExperimentBase):
    """Linear interpolation of the observed pixels (masking tasks; no training; not in the paper)."""

    method: Literal["interp"] = Field(description="Delaunay linear interpolation, nearest outside the hull")


class ModelFromExperiment(ExperimentBase):
    """An experiment that evaluates another's trained model (``model_from``): only its
    evaluation is its own; everything else is the source's."""

    method: Literal["meta", "red", "hqs", "tv", "unet", "unrolled", "interp"] = field(
        "meta", "the source's method")
    model_from: str = Field(description="id of the experiment whose trained model this one evaluates")


#: Methods of :class:`ClassicalExperiment` (tuned by the grid search, ``params.json``).
CLASSICAL_METHODS = ("red", "hqs", "tv")
#: method value → its model.
METHODS: dict[str, type[ExperimentBase]] = {
    "meta": MetaExperiment, "red": ClassicalExperiment, "hqs": ClassicalExperiment, "tv": ClassicalExperiment,
    "unet": UnetExperiment, "unrolled": UnrolledExperiment, "interp": InterpExperiment,
}
DEFAULT_METHOD = "meta"


def method_of(value) -> str:
    """The discriminator: ``model_from`` for an experiment that evaluates another's model, else
    ``method`` (``meta`` when absent; ``classical`` for red, hqs and tv)."""
    get = value.get if isinstance(value, dict) else lambda k, d=None: getattr(value, k, d)
    if get("model_from") is not None:
        return "model_from"
    method = get("method", DEFAULT_METHOD)
    return "classical" if method in CLASSICAL_METHODS else method


#: The union the JSON schema and the reference page show for ``config.experiments.<id>``.
Experiment = Annotated[
    Union[Annotated[MetaExperiment, Tag("meta")], Annotated[ClassicalExperiment, Tag("classical")],
          Annotated[UnetExperiment, Tag("unet")], Annotated[UnrolledExperiment, Tag("unrolled")],
          Annotated[InterpExperiment, Tag("interp")], Annotated[ModelFromExperiment, Tag("model_from")]],
    Discriminator(method_of),
]

__all__ = ["Eval", "Modulation", "Siren", "MetaSolver", "Finetune", "Inner", "Outer", "Tune", "Classical", "Unet",
           "Unrolled", "Train", "ExperimentBase", "MetaExperiment", "ClassicalExperiment",
           "UnetExperiment", "UnrolledExperiment", "InterpExperiment", "ModelFromExperiment", "METHODS", "DEFAULT_METHOD",
           "CLASSICAL_METHODS",
           "Experiment", "method_of"]
