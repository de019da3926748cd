"""Forward models y = A(x) + ε (paper Eq. 1–2), batched over N×C×H×W images.

Every operator is linear and exposes ``A(x)`` (:meth:`forward`), ``Aᵀ(y)`` (:meth:`adjoint`),
``measure(x, generator)`` = A(x) + σ·n with n ~ N(0, I), ``gram_inverse(z, ρ)`` =
(AᵀA + ρI)⁻¹z (the data step of RED and HQS), and the two things a method needs to know about
y beyond A: :meth:`~LinearOperator.input_image` (the image a method starts from and the tables'
Input row) and :meth:`~LinearOperator.image_size` (the H×W a SIREN renders). The hand-written
operators measure in image space (masking zero-fills, blurring keeps the size), so y itself
is their input image. :class:`DeepinvOperator` wraps any ``deepinv.physics.LinearPhysics``,
whose measurements may live elsewhere (compressed sensing: m values per channel); its input
image is deepinv's pseudo-inverse A⁺y.

Operators are plain objects holding tensors (mask, kernel spectrum, matrix); they are built
per batch when the operator is random (random missing pixels: one mask per image) and are
device-agnostic: tensors follow ``x``.
"""

from __future__ import annotations

import functools
import math
import typing
from dataclasses import dataclass
from typing import Mapping

import torch


class LinearOperator:
    """A linear forward model with its adjoint and an additive white Gaussian noise level."""

    noise_std: float = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def measured_entries(self, y: torch.Tensor) -> torch.Tensor:
        """Number of measured values per image of the measurement ``y`` (shape N): every entry
        of y unless the operator masks."""
        return torch.full((y.shape[0],), float(y[0].numel()), dtype=y.dtype, device=y.device)

    def input_image(self, y: torch.Tensor) -> torch.Tensor:
        """The image-shaped input of a method (the solvers' x₀, the UNet's input, the tables'
        Input row): y itself for an operator that measures in image space."""
        return y

    def image_size(self, y: torch.Tensor) -> tuple[int, int]:
        """(H, W) of the images behind the measurement ``y``."""
        return int(y.shape[-2]), int(y.shape[-1])

    def gram_inverse(self, z: torch.Tensor, rho: float | torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """(AᵀA + ρI)⁻¹ z; ``rho`` a number or one value per image (shape N)."""
        raise NotImplementedError

    def measure(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """y = A(x) + ε, ε ~ N(0, σ² I) drawn from ``generator`` (Eq. 2)."""
        y = self.forward(x)
        if self.noise_std > 0:
            # drawn in float64 on the CPU whatever x is: the same seed gives the same noise on
            # every device and in every precision (float32 runs compare to float64 runs)
            noise = torch.randn(y.shape, generator=generator, dtype=torch.float64, device="cpu")
            y = y + self.noise_std * noise.to(device=y.device, dtype=y.dtype)
        return y


@dataclass
class Mask(LinearOperator):
    """Pixel masking A = diag(m): missing pixels are zero. Self-adjoint and idempotent.

    ``mask`` broadcasts against N×C×H×W (shape 1×1×H×W for a fixed mask, N×1×H×W for one
    mask per image); 1 = observed.
    """

    mask: torch.Tensor
    noise_std: float = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask.to(x.dtype)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.mask.to(y.dtype)

    def measured_entries(self, x: torch.Tensor) -> torch.Tensor:
        return self.mask.to(x.dtype).expand_as(x).flatten(1).sum(1)

    def measure(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # noise only on observed pixels: missing pixels carry no measurement at all
        return self.forward(super().measure(x, generator))


def center_mask(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """1×1×H×W mask with the centre square of side ⌊H/3⌋ missing (1/9 of the area, Table 1)."""
    side_h, side_w = height // 3, width // 3
    top, left = (height - side_h) // 2, (width - side_w) // 2
    mask = torch.ones(1, 1, height, width, device=device)
    mask[..., top : top + side_h, left : left + side_w] = 0
    return mask


def random_mask(
    n: int, height: int, width: int, observed: int | str, generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """N×1×H×W masks observing exactly ``observed`` pixels each, chosen uniformly without
    replacement; ``observed="half"`` observes the top ⌊H/2⌋ rows (Table 2)."""
    if observed == "half":
        mask = torch.zeros(n, 1, height, width, device=device)
        mask[:, :, : height // 2, :] = 1
        return mask
    k = int(observed)
    if not 0 <= k <= height * width:
        raise ValueError(f"observed pixels must lie in [0, {height * width}], got {k}")
    scores = torch.rand(n, height * width, generator=generator)
    idx = scores.argsort(dim=1)[:, :k]
    mask = torch.zeros(n, height * width)
    mask.scatter_(1, idx, 1.0)
    return mask.view(n, 1, height, width).to(device)


def gaussian_kernel(size: int, std: float) -> torch.Tensor:
    """Normalised size×size isotropic Gaussian kernel (float64)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"blur kernel size must be odd and positive, got {size}")
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(r**2) / (2 * std**2))
    k = g[:, None] * g[None, :]
    return k / k.sum()


class Blur(LinearOperator):
    """Circular 2-D convolution with a kernel, via the FFT (periodic boundary).

    A x = F⁻¹(K̂ · F x), Aᵀ y = F⁻¹(conj(K̂) · F y), with K̂ the transfer function of the
    kernel centred at pixel (0, 0). The same spectrum gives the closed-form data steps of
    RED and HQS: (AᵀA + ρI)⁻¹ = F⁻¹ diag(1 / (|K̂|² + ρ)) F.
    """

    def __init__(self, kernel: torch.Tensor, height: int, width: int, noise_std: float = 0.0):
        kernel = torch.as_tensor(kernel, dtype=torch.float64)
        kh, kw = kernel.shape
        if kh > height or kw > width:
            raise ValueError(f"kernel {kh}×{kw} larger than the image {height}×{width}")
        pad = torch.zeros(height, width, dtype=torch.float64)
        pad[:kh, :kw] = kernel
        pad = torch.roll(pad, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
        self.kernel = kernel
        self.otf = torch.fft.rfft2(pad)  # H × (W//2+1), complex128
        self._spectra: dict = {}  # the OTF per (device, dtype), copied to a device once
        self.height, self.width = height, width
        self.noise_std = float(noise_std)

    def _spectrum(self, ref: torch.Tensor) -> torch.Tensor:
        ctype = torch.complex128 if ref.dtype == torch.float64 else torch.complex64
        key = (ref.device, ctype)
        if key not in self._spectra:  # a host→device copy waits for queued work: do it once
            self._spectra[key] = self.otf.to(device=ref.device, dtype=ctype)
        return self._spectra[key]

    def _apply(self, x: torch.Tensor, spectrum: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft2(torch.fft.rfft2(x) * spectrum, s=x.shape[-2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply(x, self._spectrum(x))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._apply(y, self._spectrum(y).conj())

    def gram_inverse(self, z: torch.Tensor, rho: float | torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """(scale·AᵀA + ρI)⁻¹ z in closed form; ``rho`` may be a tensor broadcasting over N."""
        spec = self._spectrum(z)
        denom = scale * (spec.real**2 + spec.imag**2)
        if torch.is_tensor(rho):
            rho = rho.to(dtype=z.dtype, device=z.device)
            if rho.ndim == 1:
                rho = rho.view(-1, 1, 1, 1)
        else:
            rho = float(rho)  # a Python number needs no copy to the device
        return torch.fft.irfft2(torch.fft.rfft2(z) / (denom + rho), s=z.shape[-2:])


def _per_image(rho: float | torch.Tensor, ref: torch.Tensor) -> float | torch.Tensor:
    """ρ as a number, or as a tensor of shape N broadcasting over the other dimensions of ``ref``."""
    if not torch.is_tensor(rho):
        return float(rho)
    rho = rho.to(dtype=ref.dtype, device=ref.device)
    return rho.view(-1, *([1] * (ref.ndim - 1))) if rho.ndim == 1 else rho


class DeepinvOperator(LinearOperator):
    """A ``deepinv.physics.LinearPhysics`` as this package's operator.

    A and Aᵀ are deepinv's ``A`` and ``A_adjoint``; the noise is this package's (drawn from the
    caller's generator in float64 on the CPU, :meth:`LinearOperator.measure`), so the physics
    should carry no noise model of its own. The input image is the pseudo-inverse A⁺y
    (:meth:`input_image`). (AᵀA + ρI)⁻¹z is deepinv's own ``prox_l2`` where the physics class
    overrides it with a closed form (``Downsampling`` with circular padding, the
    ``DecomposablePhysics`` such as ``MRI``), and otherwise deepinv's conjugate gradient
    (``deepinv.optim.linear.conjugate_gradient``, relative residual ``cg_tol``); a subclass may
    give its own closed form. ``physics`` is built in float64 on the CPU and copied once per
    (device, dtype) of the tensors it meets (complex buffers, e.g. a filter's spectrum, stay
    complex).
    """

    def __init__(self, physics, channels: int, height: int, width: int, noise_std: float = 0.0,
                 cg_max_iter: int = 200, cg_tol: float = 1e-6):
        self.physics = physics
        self.shape = (int(channels), int(height), int(width))
        self.noise_std = float(noise_std)
        self.cg_max_iter, self.cg_tol = int(cg_max_iter), float(cg_tol)
        self._copies: dict = {}

    def at(self, ref: torch.Tensor):
        """The physics on ``ref``'s device and in its dtype (copied once per pair)."""
        key = (ref.device, ref.dtype)
        if key not in self._copies:
            import copy

            complex_dtype = torch.complex128 if ref.dtype == torch.float64 else torch.complex64

            def convert(t: torch.Tensor) -> torch.Tensor:  # Module.to(dtype) would drop imaginary parts
                dtype = complex_dtype if t.is_complex() else ref.dtype if t.is_floating_point() else t.dtype
                return t.to(device=ref.device, dtype=dtype)

            physics = copy.deepcopy(self.physics)._apply(convert)
            if hasattr(physics, "dtype"):  # deepinv casts inputs to the dtype it was built with
                physics.dtype = ref.dtype
            self._copies[key] = physics
        return self._copies[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.at(x).A(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.at(y).A_adjoint(y)

    #: ε of the closed-form pseudo-inverse (AᵀA + εI)⁻¹Aᵀy (relative to ‖A‖ ≈ 1)
    PSEUDO_INVERSE_EPS = 1e-6

    def _closed_form(self, physics) -> bool:
        from deepinv.physics import LinearPhysics

        return type(physics).prox_l2 is not LinearPhysics.prox_l2

    def input_image(self, y: torch.Tensor) -> torch.Tensor:
        """A⁺y, the minimum-norm least-squares image: (AᵀA + εI)⁻¹Aᵀy by deepinv's closed-form
        ``prox_l2`` where the class has one (``Downsampling``: 1.5 s → milliseconds per batch of
        five 64² images), else deepinv's iterative ``A_dagger``."""
        physics = self.at(y)
        if self._closed_form(physics):
            return physics.prox_l2(0.0, y, 1 / self.PSEUDO_INVERSE_EPS)
        return physics.A_dagger(y)

    def image_size(self, y: torch.Tensor) -> tuple[int, int]:
        return self.shape[1], self.shape[2]

    def gram_inverse(self, z: torch.Tensor, rho: float | torch.Tensor) -> torch.Tensor:
        """(AᵀA + ρI)⁻¹ z: deepinv's closed-form ``prox_l2(z/ρ, 0, 1/ρ)`` =
        argmin_x ½‖Ax‖²/ρ + ½‖x − z/ρ‖² where the class has one, else conjugate gradient on
        the normal equations."""
        from deepinv.optim.linear import conjugate_gradient

        physics, r = self.at(z), _per_image(rho, z)
        if self._closed_form(physics):
            return physics.prox_l2(z / r, torch.zeros_like(physics.A(z)), 1 / r)
        return conjugate_gradient(lambda v: physics.A_adjoint_A(v) + r * v, z, max_iter=self.cg_max_iter,
                                  tol=self.cg_tol, parallel_dim=0, init=z / (1 + r))


class OrthonormalRowsOperator(DeepinvOperator):
    """A deepinv physics whose rows are orthonormal (AAᵀ = I), e.g. a subsampled orthogonal
    transform: AᵀA is then the projection P onto the row space, so everything is closed form —
    A⁺ = Aᵀ, and (AᵀA + ρI)⁻¹ z = z/ρ − P z / (ρ(1 + ρ)). Gradient descent (Eq. 6) with step 1
    makes the data fit exact, as for a mask."""

    def input_image(self, y: torch.Tensor) -> torch.Tensor:
        """A⁺y = Aᵀy (AAᵀ = I)."""
        return self.adjoint(y)

    def gram_inverse(self, z: torch.Tensor, rho: float | torch.Tensor) -> torch.Tensor:
        r = _per_image(rho, z)
        return z / r - self.adjoint(self.forward(z)) / (r * (1 + r))


@functools.lru_cache(maxsize=8)
def compressed_sensing(ratio: float, seed: int, channels: int, height: int, width: int,
                       noise_std: float = 0.0) -> OrthonormalRowsOperator:
    """Structured random compressed sensing (deepinv ``StructuredRandom``, two layers):
    A x = S F D₂ F D₁ x per channel, with D_i random ±1 diagonals drawn from ``seed``, F the
    orthonormal 2-D DST-I (deepinv ``dst1`` over H and W) and S the centre
    round(√ratio·H) × round(√ratio·W) block of coefficients: m/n ≈ ``ratio``, AAᵀ = I, O(n log n)
    per image (a dense Gaussian matrix costs O(mn) and its pseudo-inverse, which deepinv's
    ``CompressedSensing`` computes when built, takes tens of seconds at 64²)."""
    from deepinv.physics import StructuredRandom
    from deepinv.physics.functional import dst1

    side_h, side_w = (max(1, round(math.sqrt(float(ratio)) * side)) for side in (height, width))
    transform = functools.partial(dst1, dim=(-2, -1))
    physics = StructuredRandom(img_size=(channels, height, width), output_size=(channels, side_h, side_w),
                               n_layers=2, transform_func=transform, transform_func_inv=transform,
                               rng=torch.Generator().manual_seed(int(seed)))
    return OrthonormalRowsOperator(physics.to(torch.float64), channels, height, width, noise_std)


@functools.lru_cache(maxsize=8)
def super_resolution(factor: int, kernel: str, channels: int, height: int, width: int,
                     noise_std: float = 0.0) -> DeepinvOperator:
    """×``factor`` super-resolution: y = S(h ∗ x), deepinv ``Downsampling`` with the anti-aliasing
    filter ``kernel`` (bicubic | gaussian | bilinear) and a circular boundary, whose data step
    deepinv solves in closed form (Zhao et al. 2016); the input image is A⁺y."""
    from deepinv.physics import Downsampling
    from deepinv.physics import functional as dF

    filters = {"bicubic": dF.bicubic_filter, "bilinear": dF.bilinear_filter,
               "gaussian": lambda f: dF.gaussian_blur(sigma=(f, f))}  # deepinv's choices for a string
    h = filters[kernel](int(factor)).to(torch.float64)  # in float64: its spectrum (the data step) too
    if h.shape[-2] > height or h.shape[-1] > width:  # the FFT data step would wrap it around
        raise ValueError(f"a ×{factor} super-resolution's {h.shape[-2]}×{h.shape[-1]} {kernel} filter is larger "
                         f"than the {height}×{width} image")
    physics = Downsampling(img_size=(channels, height, width), filter=h, factor=int(factor), padding="circular")
    return DeepinvOperator(physics, channels, height, width, noise_std)


class CartesianMRIOperator(DeepinvOperator):
    """Undersampled Fourier sampling of each colour channel as a real image (``deepinv.physics.MRI``):
    y = M F [x_c; 0] per channel c, F the orthonormal centred 2-D DFT of deepinv's complex image
    (real, imaginary channels), M a 0/1 k-space mask; y is N × 2C × H × W (channel c's real and
    imaginary k-space at 2c, 2c + 1). Aᵀy = Re F⁻¹(M y), the zero-filled inverse FFT, is the
    input image. A real image's spectrum is Hermitian, so AᵀA = F⁻¹ diag(d) F with
    d(k) = (M(k) + M(−k))/2 ∈ {0, ½, 1}: the data step (AᵀA + ρI)⁻¹ is exact in k-space."""

    def __init__(self, physics, channels: int, height: int, width: int, noise_std: float = 0.0):
        super().__init__(physics, channels, height, width, noise_std)
        mask = physics.mask.reshape(-1, height, width)[0].to(torch.float64)  # one mask, shared by the channels
        flip_h = (2 * (height // 2) - torch.arange(height)) % height  # index of −k on deepinv's centred grid
        flip_w = (2 * (width // 2) - torch.arange(width)) % width
        self.mask = mask
        self.gram_diagonal = (mask + mask[flip_h][:, flip_w]) / 2
        self._buffers: dict = {}

    def _buffer(self, name: str, ref: torch.Tensor) -> torch.Tensor:
        key = (name, ref.device, ref.dtype)
        if key not in self._buffers:  # a host→device copy waits for queued work: do it once
            self._buffers[key] = getattr(self, name).to(device=ref.device, dtype=ref.dtype)
        return self._buffers[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        real = x.reshape(n * c, 1, h, w)
        return self.at(x).A(torch.cat([real, torch.zeros_like(real)], 1)).reshape(n, 2 * c, h, w)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        n, c2, h, w = y.shape
        return self.at(y).A_adjoint(y.reshape(n * c2 // 2, 2, h, w))[:, :1].reshape(n, c2 // 2, h, w)

    def measure(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # noise only where k-space is sampled: the other entries carry no measurement at all
        return super().measure(x, generator) * self._buffer("mask", x)

    def measured_entries(self, y: torch.Tensor) -> torch.Tensor:
        """Real values measured per image: 2 (real, imaginary) per sampled k-space entry and channel."""
        count = float(self.mask.sum()) * y.shape[1]
        return torch.full((y.shape[0],), count, dtype=y.dtype, device=y.device)

    def input_image(self, y: torch.Tensor) -> torch.Tensor:
        """The zero-filled inverse FFT Re F⁻¹(M y) = Aᵀy (= the real part of deepinv's ``A_dagger``)."""
        return self.adjoint(y)

    def gram_inverse(self, z: torch.Tensor, rho: float | torch.Tensor) -> torch.Tensor:
        """(AᵀA + ρI)⁻¹ z = Re F⁻¹ diag(1 / (d + ρ)) F z, on deepinv's k-space grid."""
        n, c, h, w = z.shape
        physics, r = self.at(z), _per_image(rho, z)
        if torch.is_tensor(r) and r.ndim == 4:  # one ρ per image: the same for its channels
            r = r.repeat_interleave(c, dim=0)
        real = z.reshape(n * c, 1, h, w)
        k = physics.im_to_kspace(torch.cat([real, torch.zeros_like(real)], 1))
        return physics.kspace_to_im(k / (self._buffer("gram_diagonal", z) + r))[:, :1].reshape(n, c, h, w)


@functools.lru_cache(maxsize=8)
def mri(acceleration: int, mask: str, center_fraction: float | None, seed: int, channels: int,
        height: int, width: int, noise_std: float = 0.0) -> CartesianMRIOperator:
    """MRI-style Cartesian undersampling: deepinv's ``GaussianMaskGenerator`` (variable density)
    or ``EquispacedMaskGenerator`` keeps about 1/``acceleration`` of the k-space columns, the
    central ``center_fraction`` always (None: deepinv's 8 % below ×8, 4 % from ×8), drawn once
    from ``seed``; ``deepinv.physics.MRI`` applies it to each colour channel."""
    from deepinv.physics import MRI
    from deepinv.physics.generator import EquispacedMaskGenerator, GaussianMaskGenerator

    generators = {"gaussian": GaussianMaskGenerator, "equispaced": EquispacedMaskGenerator}
    generator = generators[mask]((height, width), acceleration=int(acceleration), center_fraction=center_fraction,
                                 rng=torch.Generator().manual_seed(int(seed)))
    m = generator.step(batch_size=1)["mask"].to(torch.float64)  # 1 × 1 × H × W
    physics = MRI(mask=m, img_size=(1, 2, height, width))
    return CartesianMRIOperator(physics.to(torch.float64), channels, height, width, noise_std)


def select(op: LinearOperator, index: slice) -> LinearOperator:
    """The operator of a sub-batch (per-image masks are sliced, shared operators reused)."""
    if isinstance(op, Mask) and op.mask.shape[0] > 1:
        return Mask(op.mask[index], noise_std=op.noise_std)
    return op


@functools.cache
def _operator_models() -> dict:
    """kind → its model, from the :data:`metainv.specs.config.Operator` union (read once)."""
    from metainv.specs.config import Operator

    return {typing.get_args(m.model_fields["kind"].annotation)[0]: m
            for m in typing.get_args(typing.get_args(Operator)[0])}


def operator_spec(spec: Mapping) -> dict:
    """A task's ``operator`` block with its defaults, validated by its model in the
    :data:`metainv.specs.config.Operator` union (the one definition of the kinds and their keys)."""
    from metainv.specs import validate_model

    models = _operator_models()
    model = models.get(spec.get("kind"))
    if model is None:
        raise ValueError(f"unknown operator kind {spec.get('kind')!r}; kinds: {', '.join(models)}")
    return validate_model(model, dict(spec), "operator").model_dump(mode="json")


def sample_observed(spec: Mapping, generator: torch.Generator | None = None) -> int | str:
    """Number of observed pixels for one training batch of random inpainting.

    With probability ``half_probability`` the batch observes the top half ("half", Table 2);
    otherwise K is drawn from ``observed_range`` = [lo, hi], log-uniformly by default (every
    decade of K equally often: 10–100 as often as 100–1000) or uniformly
    (``observed_sampling: uniform``).
    """
    spec = operator_spec(spec)
    u = torch.rand(2, generator=generator, dtype=torch.float64)
    if u[0] < float(spec["half_probability"]):
        return "half"
    lo, hi = spec["observed_range"]
    if spec["observed_sampling"] == "uniform":
        return int(lo + torch.floor(u[1] * (hi - lo + 1)).clamp(max=hi - lo))
    k = math.exp(math.log(lo) + float(u[1]) * (math.log(hi + 1) - math.log(lo)))
    return int(min(max(math.floor(k), lo), hi))


def build_operator(
    spec: Mapping, n: int, height: int, width: int, generator: torch.Generator | None = None,
    device: torch.device | str = "cpu", observed: int | str | None = None, channels: int = 3,
) -> LinearOperator:
    """Operator for a batch of ``n`` images (``channels``×H×W) from a task's ``operator`` block.

    ``spec["kind"]`` is ``inpaint_center`` | ``inpaint_random`` | ``blur`` |
    ``compressed_sensing`` | ``super_resolution`` | ``mri``. For random masks, ``observed`` fixes the
    number of observed pixels (evaluation); without it a number is drawn per batch from
    ``spec["observed_range"]`` (training).
    """
    spec = operator_spec(spec)  # refuses an unknown kind
    kind = spec["kind"]
    noise = float(spec["noise_std"])
    if kind == "inpaint_center":
        return Mask(center_mask(height, width, device), noise_std=noise)
    if kind == "inpaint_random":
        if observed is None:
            observed = sample_observed(spec, generator)
        return Mask(random_mask(n, height, width, observed, generator, device), noise_std=noise)
    if kind == "compressed_sensing":
        return compressed_sensing(float(spec["ratio"]), int(spec["operator_seed"]), channels, height, width, noise)
    if kind == "super_resolution":
        return super_resolution(int(spec["factor"]), spec["kernel"], channels, height, width, noise)
    if kind == "mri":
        return mri(int(spec["acceleration"]), spec["mask"], spec["center_fraction"], int(spec["operator_seed"]),
                   channels, height, width, noise)
    return Blur(gaussian_kernel(int(spec["kernel_size"]), float(spec["kernel_std"])),
                height, width, noise_std=noise)


def inner_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """⟨a, b⟩ summed over everything (used by the adjoint tests)."""
    return (a * b).sum()


__all__ = [
    "LinearOperator", "Mask", "Blur", "DeepinvOperator", "OrthonormalRowsOperator", "center_mask",
    "random_mask", "gaussian_kernel", "compressed_sensing", "super_resolution", "mri",
    "CartesianMRIOperator", "build_operator", "inner_product", "select",
]
