"""The top level of a configuration: data, tasks, the DnCNN, tables, figures, claims, resources.

``config/config.yaml`` (the paper) and the overlays merged over it state only what differs from
the defaults here. Experiments are typed one by one (:mod:`metainv.specs.experiment`) after
``experiment_defaults`` is merged under them, so this level keeps them as mappings.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, Field

from metainv.specs.base import (Keep, keep_field, Fraction, NonNegativeInt, PositiveFloat, PositiveInt, Spec, field)
from metainv.specs.experiment import Experiment

Metric = Literal["MSE", "PSNR", "SSIM", "LPIPS_alex", "LPIPS_vgg"]


class Celeba(Spec):
    """Where download_celeba gets the CelebA files (files already in data/raw/celeba/ with the
    right md5 are used first and never downloaded again)."""

    mirrors: list[str] = field([], "HTTP(S) base URLs holding the files, or templates with {name}, "
                                   "tried in order before Google Drive")
    gdrive: bool = field(True, "try Google Drive (the ids torchvision lists) after the mirrors")
    retries: PositiveInt = field(5, "attempts per source and file (resumed with HTTP Range, exponential backoff)")
    timeout: PositiveFloat = field(60.0, "seconds without data before an attempt is abandoned")


class Sample(Spec):
    """The embedded sample faces (scikit-image's LFW subset and two portraits)."""

    crops_per_portrait: NonNegativeInt = field(20, "jittered face crops per portrait")


class Data(Spec):
    """The image source, its splits and its preprocessing."""

    source: Literal["sample", "celeba", "folder"] = field(
        "celeba", "sample: images shipped with scikit-image/matplotlib; celeba: downloaded; folder: your images")
    folder: str | None = field(None, "image folder, for source folder")
    n_train: PositiveInt | None = field(None, "training images to use (None: all available)")
    n_val: PositiveInt = field(500, "validation images (scored for the tables only)")
    tuning: PositiveInt = field(
        200, "the tuning split: the last `tuning` training images, never trained on; every choice is made on them")
    crop: Literal["auto", "square", "none"] | PositiveInt = field(
        "auto", "centred crop before the Lanczos resize: auto (celeba: the 178×178 centre; folder: the "
                "largest centred square), square, none (stretch), or a side in pixels")
    on_corrupt: Literal["fail", "skip"] = field(
        "fail", "an unreadable image fails the data rule naming the file, or is skipped and listed in the manifest")
    min_size: PositiveInt | None = field(
        None, "images whose shorter side is below this many pixels count as unreadable (None: half the resolution)")
    workers: PositiveInt = field(4, "image-decoding threads of the prepare rules")
    celeba: Celeba = field(Celeba(), "CelebA download sources")
    sample: Sample = field(Sample(), "the sample set")


class InpaintCenter(Spec):
    """The centre ⌊H/3⌋ square (1/9 of the area) zeroed (§4.1.1)."""

    kind: Literal["inpaint_center"] = Field(description="the operator")
    noise_std: Annotated[float, Field(ge=0)] = field(0.0, "σ of the additive Gaussian noise")


class InpaintRandom(Spec):
    """K random pixels observed, or the top half (§4.1.2)."""

    kind: Literal["inpaint_random"] = Field(description="the operator")
    noise_std: Annotated[float, Field(ge=0)] = field(0.0, "σ of the additive Gaussian noise")
    observed_range: tuple[PositiveInt, PositiveInt] | None = field(
        None, "[lo, hi]: observed pixels per image, drawn per training batch")
    observed_sampling: Literal["log_uniform", "uniform"] = field(
        "log_uniform", "how K is drawn from observed_range for each training batch")
    half_probability: Fraction = field(0.0, "probability that a training batch observes the top half instead")


class Blur(Spec):
    """Gaussian blur with a periodic boundary, then noise (§4.2)."""

    kind: Literal["blur"] = Field(description="the operator")
    noise_std: Annotated[float, Field(ge=0)] = field(0.0, "σ of the additive Gaussian noise")
    kernel_size: PositiveInt = Field(description="kernel side in pixels (odd)")
    kernel_std: PositiveFloat = Field(description="kernel standard deviation in pixels")


class CompressedSensing(Spec):
    """Structured random compressed sensing per colour channel: y = S F D₂ F D₁ x + ε, D_i random
    ±1 diagonals, F the orthonormal 2-D DST, S keeps a centre block of ≈ ratio·H·W coefficients
    (deepinv.physics.StructuredRandom; rows orthonormal; not in the paper)."""

    kind: Literal["compressed_sensing"] = Field(description="the operator")
    noise_std: Annotated[float, Field(ge=0)] = field(0.0, "σ of the additive Gaussian noise")
    ratio: Annotated[float, Field(gt=0, le=1)] = field(
        0.25, "m/n, measurements per pixel and channel (the kept block's side is round(√ratio·H))")
    operator_seed: NonNegativeInt = field(
        0, "seed of the random signs: one operator for the task, the same in training, tuning and evaluation")


class SuperResolution(Spec):
    """×factor super-resolution: anti-aliasing filter, then every factor-th pixel, circular
    boundary (deepinv.physics.Downsampling; not in the paper)."""

    kind: Literal["super_resolution"] = Field(description="the operator")
    noise_std: Annotated[float, Field(ge=0)] = field(0.0, "σ of the additive Gaussian noise")
    factor: Annotated[int, Field(ge=2)] = field(4, "downsampling factor (the resolution must be a multiple)")
    kernel: Literal["bicubic", "gaussian", "bilinear"] = field("bicubic", "anti-aliasing filter")


class Mri(Spec):
    """MRI-style Cartesian Fourier undersampling of each colour channel as a real image:
    y = M F x + ε in deepinv's complex k-space (real and imaginary parts), M whole k-space columns,
    one mask for the task (deepinv.physics.MRI with a deepinv.physics.generator mask; not in the paper)."""

    kind: Literal["mri"] = Field(description="the operator")
    noise_std: Annotated[float, Field(ge=0)] = field(0.0, "σ of the additive Gaussian noise (on the sampled k-space values)")
    acceleration: Annotated[int, Field(ge=2)] = field(4, "about 1/acceleration of the k-space columns sampled")
    mask: Literal["gaussian", "equispaced"] = field(
        "gaussian", "gaussian: variable density (GaussianMaskGenerator); equispaced: every acceleration-th column")
    center_fraction: Annotated[float, Field(gt=0, lt=1)] | None = field(
        None, "fraction of central columns always sampled (None: deepinv's 8 % below 8×, 4 % from 8×)")
    operator_seed: NonNegativeInt = field(
        0, "seed of the mask: one operator for the task, the same in training, tuning and evaluation")


Operator = Annotated[Union[InpaintCenter, InpaintRandom, Blur, CompressedSensing, SuperResolution, Mri],
                     Field(discriminator="kind")]


class Task(Spec):
    """An inverse problem: the image size and the forward operator."""

    resolution: Annotated[int, Field(ge=8)] = Field(description="image side in pixels")
    operator: Operator = Field(description="the forward operator A and its noise")


class Denoiser(Spec):
    """The DnCNN prior of RED / HQS (Zhang et al. 2017), trained at one noise level on the
    training split minus its tuning split."""

    resolution: Annotated[int, Field(ge=8)] = field(64, "store the DnCNN trains on (and every classical experiment's)")
    depth: Annotated[int, Field(ge=2)] = field(17, "convolution layers")
    features: PositiveInt = field(64, "channels per layer")
    noise_std: PositiveFloat = field(0.05, "σ₀ it is trained at (paper: 5 %)")
    tuning_images: PositiveInt = field(100, "tuning-split images scored for the curve and eval.json")
    batch_size: PositiveInt = field(128, "crops per step")
    patch_size: Annotated[int, Field(ge=8)] = field(40, "random crop side")
    lr: PositiveFloat = field(1.0e-3, "Adam learning rate")
    lr_decay_at: Fraction = field(0.75, "fraction of the steps after which the learning rate is × 0.1")
    steps: NonNegativeInt = field(50000, "Adam steps")
    checkpoint_every: PositiveInt = field(500, "steps between checkpoints")
    validate_every: NonNegativeInt = field(1000, "steps between points of the tuning-split curve")
    keep: Keep = keep_field()


class TableRow(Spec):
    label: str = Field(description="the row's label")
    experiment: str = Field(description="experiment id")
    paper_method: str = field("", "method name in paper_results.csv (the paper's number beside ours)")
    paper_setting: str = field("", "setting in paper_results.csv")
    input: bool = field(False, "show the experiment's input y (metrics.csv input_* columns), not its reconstruction")


class Table(Spec):
    title: str | None = field(None, "heading of the table (None: 'Table <number>')")
    paper_table: Annotated[int, Field(ge=1, le=4)] | None = field(
        None, "the paper's table number (None: a task the paper does not test; no paper column)")
    show_input: bool = field(True, "a first row with the input y of the first experiment")
    metrics: list[Metric] = Field(description="columns, metrics.csv names")
    rows: Annotated[list[TableRow], Field(min_length=1)] = Field(description="rows in order")


class Claim(Spec):
    """A claim of the paper as a paired comparison of A and B over the validation images."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = Field(description="unique id")
    statement: str = Field(description="the claim in words")
    a: str = Field(description="experiment id of A")
    b: str | Annotated[list[str], Field(min_length=1)] = Field(description="experiment id of B, or a list (one comparison each)")
    metric: Metric = Field(description="a metrics.csv column")
    direction: Literal["greater", "less"] = Field(description="the claimed sign of mean(A − B)")


class Figure(Spec):
    title: str = Field(description="title above the panels")
    n_images: PositiveInt = field(6, "validation images shown")
    experiments: Annotated[dict[str, str | Annotated[dict[str, str], Field(min_length=1)]], Field(min_length=1)] = Field(
        description="column label → experiment id (one measurement), or row label → {column label → id} "
                    "(one row per setting, each with its own input)")


def _increasing(steps: list[int]) -> list[int]:
    """The inner-step counts of a step curve, strictly increasing (each is one point)."""
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError(f"steps {steps} must be strictly increasing (each number of steps is one point)")
    return steps


class StepCurveSolver(Spec):
    """A classical solver run from y for the curve's numbers of steps (0: y itself)."""

    kind: Literal["gd", "red"] = Field(description="gd: Eq. 6, x ← x − α Aᵀ(Ax − y); red: RED with the DnCNN")
    step_size: PositiveFloat = field(1.0, "α of Eq. 6 (kind gd)")
    params_from: str | None = field(
        None, "kind red: id of the red experiment (same task) whose tuned params.json it runs with")


class StepCurve(Spec):
    """PSNR on the validation split against the number of inner steps at evaluation, and
    against the wall-clock seconds per image (not in the paper): each meta experiment's trained
    model evaluated with every number of `steps` (0: f(φ_θ), the learned start alone; steps
    past inner.steps reuse the last rate), beside classical solvers run for as many steps."""

    title: str = Field(description="title of the figure")
    enabled: bool = field(True, "false keeps the curve in the config without running it")
    steps: Annotated[list[NonNegativeInt], Field(min_length=1), AfterValidator(_increasing)] = field(
        [0, 1, 2, 3, 5, 10, 20, 50], "numbers of inner (and solver) steps, strictly increasing")
    experiments: Annotated[dict[str, str], Field(min_length=1)] = Field(
        description="curve label → id of a meta experiment; all of one task and measurement")
    solvers: dict[str, StepCurveSolver] = field({}, "curve label → classical solver on the same measurements")


class CapacityStudy(Spec):
    """A capacity study (§5's question; not in the paper): validation scores of meta experiments
    against the number of values the inner loop adapts per image (every SIREN weight, the last
    layers, or a FiLM latent), each paired image by image against reference experiments (the
    paper's Meta, the UNet) on the same measurement."""

    title: str = Field(description="title of the figure and the table")
    enabled: bool = field(True, "false keeps the study in the config without running it")
    metrics: Annotated[list[Metric], Field(min_length=1)] = field(
        ["PSNR"], "metrics.csv columns reported; the first is the figure's y axis")
    experiments: Annotated[dict[str, str], Field(min_length=1)] = Field(
        description="point label → id of a meta experiment; all of one task and measurement "
                    "(disabled ones are left out)")
    references: dict[str, str] = field(
        {}, "label → id of an experiment (any method, same task and measurement) every point is "
            "paired against (mean difference and its 95 % bootstrap interval)")


class JobResources(Spec):
    """What one job asks a scheduler for (Snakemake resources; workflow/profiles/slurm)."""

    gpu: NonNegativeInt = field(1, "GPUs (SLURM --gpus)")
    gpu_model: str | None = field(None, "GPU type, e.g. a100 (SLURM --gpus=<model>:<n>)")
    mem_mb: Annotated[int, Field(ge=100)] = field(16000, "host memory in MB")
    runtime: PositiveInt = field(60, "wall-clock limit in minutes")
    constraint: str | None = field(None, "SLURM --constraint (node features)")


class TrainingResources(JobResources):
    mem_mb: Annotated[int, Field(ge=100)] = field(32000, "host memory in MB")
    runtime: PositiveInt = field(720, "wall-clock limit in minutes (a killed training resumes from its checkpoint)")


class SearchResources(JobResources):
    runtime: PositiveInt = field(120, "wall-clock limit in minutes")


class Resources(Spec):
    """Per rule: what one job asks a cluster for. CPUs are `threads`; account and partition
    belong to the profile."""

    meta_train: TrainingResources = field(TrainingResources(), "meta-training")
    train_denoiser: TrainingResources = field(TrainingResources(), "DnCNN training")
    train_unet: TrainingResources = field(TrainingResources(), "UNet training")
    train_unrolled: TrainingResources = field(TrainingResources(), "unrolled-solver training")
    tune_classical: SearchResources = field(SearchResources(), "RED / HQS parameter search")
    reconstruct: JobResources = field(JobResources(), "any method on the validation split (rule reconstruct)")
    step_curve: JobResources = field(JobResources(), "PSNR against inner steps (rule step_curve)")


class Config(Spec):
    """A whole configuration (config/config.yaml plus overlays)."""

    seed: NonNegativeInt = field(0, "base seed; every stochastic step derives its seed from it")
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$")] = field(
        "auto", "auto (CUDA when present) | cpu | cuda[:N]")
    tf32: bool = field(False, "allow TF32 matmuls on Ampere+ GPUs (meta-gradients are sensitive to rounding)")
    threads: PositiveInt = field(1, "CPU threads per job")
    data: Data = field(Data(), "images and splits")
    tasks: Annotated[dict[str, Task], Field(min_length=1)] = Field(description="inverse problems by name")
    denoiser: Denoiser = field(Denoiser(), "the DnCNN prior")
    experiment_defaults: dict[str, Any] = field(
        {}, "keys merged under every experiment whose method has them (an experiment's own keys win)")
    experiments: Annotated[dict[str, dict[str, Any]], Field(min_length=1)] = Field(
        description="experiments by id; each is typed by its method (see the experiment reference)")
    tables: dict[str, Table] = field({}, "tables by number")
    claims: list[Claim] = field([], "the paper's claims, checked by the claims rule")
    figures: dict[str, Figure] = field({}, "figures by number")
    step_curves: dict[str, StepCurve] = field(
        {}, "PSNR against inner steps and seconds per image, by name (results/step_curves/<name>.{csv,png})")
    capacity_studies: dict[str, CapacityStudy] = field(
        {}, "scores against the inner loop's adapted values per image, by name "
            "(results/capacity/<name>.{csv,md,png}; not in the paper)")
    resources: Resources = field(Resources(), "cluster resources per rule")


class ConfigSchema(Config):
    """A whole configuration: config/config.yaml with the overlays merged over it. Each
    experiment is typed by its `method` (default meta) after `experiment_defaults` is merged
    under it."""

    experiments: Annotated[dict[str, Experiment], Field(min_length=1)] = Field(
        description="experiments by id, typed by `method` (default meta)")


__all__ = ["Config", "ConfigSchema", "Data", "Celeba", "Sample", "Task", "Operator", "InpaintCenter",
           "InpaintRandom", "Blur", "CompressedSensing", "SuperResolution", "Mri", "Denoiser", "Table", "TableRow",
           "Claim", "Figure", "CapacityStudy", "Resources", "JobResources", "Metric", "StepCurve", "StepCurveSolver"]
