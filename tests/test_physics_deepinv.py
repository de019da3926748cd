"""Operators built from deepinv physics (metainv.physics.DeepinvOperator): the adjoint test,
the data step (AᵀA + ρI)⁻¹, and every place a method meets a measurement that is not an image."""

import pytest
import torch

from metainv.physics import DeepinvOperator, build_operator, compressed_sensing, inner_product, mri

H, W = 16, 24  # the ×4 bicubic filter has 16 taps: deepinv's closed form needs it to fit
CS = {"kind": "compressed_sensing", "ratio": 0.25, "noise_std": 0.01}
MRI = {"kind": "mri", "noise_std": 0.01}


def gaussian_cs():
    """deepinv's dense Gaussian CompressedSensing through the generic adapter (CG data step)."""
    from deepinv.physics import CompressedSensing

    physics = CompressedSensing(m=40, img_size=(3, H, W), channelwise=True, dtype=torch.float64,
                                rng=torch.Generator().manual_seed(0))
    return DeepinvOperator(physics, 3, H, W, noise_std=0.01, cg_tol=1e-12, cg_max_iter=500)


def operators():
    return {"compressed_sensing": build_operator(CS, 4, H, W),
            "compressed_sensing_10": build_operator({**CS, "ratio": 0.1}, 4, H, W),
            "super_resolution": build_operator({"kind": "super_resolution", "noise_std": 0.01}, 4, H, W),
            "super_resolution_gaussian": build_operator({"kind": "super_resolution", "factor": 2,
                                                         "kernel": "gaussian"}, 4, H, W),
            "mri_4": build_operator(MRI, 4, H, W),
            "mri_8_equispaced": build_operator({**MRI, "acceleration": 8, "mask": "equispaced"}, 4, H, W),
            "deepinv_gaussian_cs": gaussian_cs()}


@pytest.mark.parametrize("name", list(operators()))
def test_adjoint(name):
    """⟨Ax, y⟩ = ⟨x, Aᵀy⟩ on random inputs, float64; y lives in measurement space."""
    op = operators()[name]
    x = torch.randn(4, 3, H, W, dtype=torch.float64)
    y = torch.randn_like(op.forward(x))
    assert y.shape != x.shape
    lhs, rhs = inner_product(op.forward(x), y), inner_product(x, op.adjoint(y))
    assert torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-10), (lhs, rhs)


@pytest.mark.parametrize("name", list(operators()))
@pytest.mark.parametrize("rho", [1e-3, 0.5, torch.tensor([1e-2, 0.3, 1.0, 3.0], dtype=torch.float64)])
def test_gram_inverse_inverts(name, rho):
    """w = (AᵀA + ρI)⁻¹ z satisfies AᵀA w + ρ w = z, for scalar and per-image ρ (closed form:
    to rounding; deepinv's conjugate gradient: to its tolerance, its ε guard limits it at small ρ)."""
    op = operators()[name]
    z = torch.randn(4, 3, H, W, dtype=torch.float64)
    w = op.gram_inverse(z, rho)
    r = rho.view(-1, 1, 1, 1) if torch.is_tensor(rho) else rho
    residual = op.adjoint(op.forward(w)) + r * w - z
    assert float(residual.norm() / z.norm()) < (1e-6 if name == "deepinv_gaussian_cs" else 1e-10)


def test_structured_cs_has_orthonormal_rows_and_ratio():
    op = operators()["compressed_sensing"]
    x = torch.rand(2, 3, H, W, dtype=torch.float64)
    y = op.forward(x)
    assert y.shape == (2, 3, 8, 12)  # round(√0.25·16) × round(√0.25·24): m/n = 1/4
    assert torch.allclose(op.forward(op.adjoint(y)), y, atol=1e-12)  # AAᵀ = I
    assert torch.allclose(op.input_image(y), op.adjoint(y))  # A⁺ = Aᵀ
    assert op.measured_entries(y).tolist() == [3 * 8 * 12] * 2
    assert op.image_size(y) == (H, W)
    side = build_operator({**CS, "ratio": 0.1}, 1, 64, 64).forward(torch.zeros(1, 3, 64, 64)).shape[-1]
    assert side == 20  # round(√0.1 · 64)


def test_one_operator_per_seed_and_noise_from_the_generator():
    x = torch.rand(2, 3, H, W, dtype=torch.float64)
    a, b = build_operator(CS, 2, H, W), build_operator(CS, 5, H, W)
    other = build_operator({**CS, "operator_seed": 1}, 2, H, W)
    assert torch.equal(a.forward(x), b.forward(x)) and not torch.allclose(a.forward(x), other.forward(x))
    y1 = a.measure(x, torch.Generator().manual_seed(3))
    y2 = a.measure(x, torch.Generator().manual_seed(3))
    y3 = a.measure(x, torch.Generator().manual_seed(4))
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)
    assert abs(float((y1 - a.forward(x)).std()) - 0.01) < 0.004
    y32 = a.measure(x.float(), torch.Generator().manual_seed(3))
    assert y32.dtype == torch.float32 and torch.allclose(y32.double(), y1, atol=1e-5)
    assert a.input_image(y32).dtype == torch.float32 and a.gram_inverse(x.float(), 0.1).dtype == torch.float32


def test_gaussian_input_image_is_the_pseudo_inverse():
    op = gaussian_cs()
    x = torch.rand(2, 3, H, W, dtype=torch.float64)
    y = op.forward(x)
    x_dagger = op.input_image(y)
    assert torch.allclose(op.forward(x_dagger), y, atol=1e-8)  # consistent, and of minimum norm:
    assert float(x_dagger.norm()) < float(x.norm())


def test_methods_start_from_the_input_image_and_render_the_image_size():
    """Solvers start from A⁺y, the SIREN renders H×W, the UNet takes [A⁺y, 1] and recon.npz
    stores A⁺y: a measurement of another shape reaches every method as an image."""
    from metainv.meta.inner_lr import InnerLearningRates
    from metainv.meta.maml import adapt, adapted_indices, data_fidelity, task_shapes
    from metainv.nets.siren import Siren
    from metainv.nets.unet import InpaintingUNet
    from metainv.solvers import build_solver

    op = operators()["compressed_sensing"]
    x = torch.rand(3, 3, H, W)
    y = op.measure(x, torch.Generator().manual_seed(0))
    gd = build_solver({"kind": "gd", "steps": 1, "step_size": 1.0})
    assert torch.allclose(gd(None, y, op), op.input_image(y), atol=1e-6)  # A⁺y already fits y
    siren = Siren(hidden=8, layers=3, omega0=30.0, generator=torch.Generator().manual_seed(0))
    rates = InnerLearningRates(task_shapes(siren), 2, adapted=adapted_indices(siren, "all"))
    out = adapt(siren, rates, y, op, gd, 2, track_meta_gradient=False)
    assert out.output.shape == x.shape
    # gd with step 1 on orthonormal rows: the output fits the measurement exactly
    assert float(data_fidelity(out.output, y, op, "mean").max()) < 1e-10
    unet = InpaintingUNet(channels_per_scale=[4, 8])
    assert unet(y, op).shape == x.shape


@pytest.mark.parametrize("name", ["compressed_sensing", "mri_4"])
def test_recon_npz_stores_the_input_image(tmp_path, name):
    """The Input row: A⁺y for compressed sensing, the zero-filled inverse FFT for MRI."""
    from metainv.recon import load_reconstruction, save_reconstruction

    op = operators()[name]
    x = torch.rand(2, 3, H, W)
    y = op.measure(x, torch.Generator().manual_seed(0))
    rec = load_reconstruction(save_reconstruction(tmp_path / "recon.npz", x, y, op))
    assert rec.mask is None and rec.measurement.shape == (2, H, W, 3)
    assert torch.allclose(torch.from_numpy(rec.measurement.astype("float32")).permute(0, 3, 1, 2),
                          op.input_image(y), atol=2e-3)


def test_config_refuses_a_bad_ratio():
    from metainv.physics import operator_spec

    assert operator_spec({"kind": "compressed_sensing"})["ratio"] == 0.25
    with pytest.raises(Exception, match="ratio"):
        operator_spec({"kind": "compressed_sensing", "ratio": 1.5})
    assert compressed_sensing(0.25, 0, 3, H, W) is compressed_sensing(0.25, 0, 3, H, W)


def test_super_resolution_data_step_is_deepinvs_closed_form():
    """Downsampling's data step comes from deepinv's FFT formula (no CG): it agrees with CG."""
    op = operators()["super_resolution"]
    x = torch.rand(2, 3, H, W, dtype=torch.float64)
    y = op.forward(x)
    assert y.shape == (2, 3, H // 4, W // 4) and op.image_size(y) == (H, W)
    assert op.physics.Fh.dtype == torch.complex128
    closed = op.gram_inverse(x, 0.05)
    from deepinv.optim.linear import conjugate_gradient

    reference = conjugate_gradient(lambda v: op.adjoint(op.forward(v)) + 0.05 * v, x, max_iter=300, tol=1e-10)
    assert float((closed - reference).norm() / reference.norm()) < 1e-6
    # A⁺y in closed form: it fits y and is deepinv's iterative A_dagger, of minimum norm
    x_dagger = op.input_image(y)
    assert float((op.forward(x_dagger) - y).norm() / y.norm()) < 1e-4
    iterative = op.physics.A_dagger(y)
    assert float((x_dagger - iterative).norm() / iterative.norm()) < 1e-2
    assert float(x_dagger.norm()) <= float(x.norm())


def test_super_resolution_filter_must_fit_the_image():
    with pytest.raises(ValueError, match="29×29 gaussian filter"):
        build_operator({"kind": "super_resolution", "kernel": "gaussian"}, 1, 24, 24)


def test_super_resolution_factor_must_divide_the_image():
    from metainv.config import _check_tasks
    from metainv.errors import ConfigError

    task = {"resolution": 30, "operator": {"kind": "super_resolution", "factor": 4}}
    with pytest.raises(ConfigError, match="factor: 4 does not divide the 30×30"):
        _check_tasks({"sr": task})


def zero_filled(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Re F⁻¹(M F x) per channel with torch.fft alone (k-space centred by fftshift, as deepinv's)."""
    k = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1)) * mask
    return torch.fft.ifft2(torch.fft.ifftshift(k, dim=(-2, -1)), norm="ortho").real


@pytest.mark.parametrize("spec", [MRI, {**MRI, "acceleration": 8, "mask": "equispaced"}])
def test_mri_input_row_is_the_zero_filled_inverse_fft(spec):
    """y is N × 2C × H × W (real and imaginary k-space per channel); the Input row is the
    zero-filled inverse FFT of each channel, and A⁺y of deepinv's complex MRI has the same real part."""
    op = build_operator(spec, 2, H, W)
    x = torch.rand(2, 3, H, W, dtype=torch.float64)
    y = op.forward(x)
    assert y.shape == (2, 6, H, W) and op.image_size(y) == (H, W)
    assert torch.allclose(op.input_image(y), zero_filled(x, op.mask), atol=1e-12)
    dagger = op.physics.A_dagger(y.reshape(6, 2, H, W))[:, :1].reshape(2, 3, H, W)
    assert torch.allclose(op.input_image(y), dagger, atol=1e-12)
    # whole columns, about 1/acceleration of them, the centre always
    columns = op.mask[0]
    assert torch.equal(op.mask, columns.expand(H, W)) and bool(columns[W // 2])
    assert abs(float(columns.mean()) - 1 / spec.get("acceleration", 4)) <= 1 / W + 1e-9


def test_mri_gram_is_diagonal_with_half_weights():
    """AᵀA = F⁻¹ diag((M(k) + M(−k))/2) F on real images: a column sampled without its mirror
    counts ½ (a mask without its mirror image would make gram_inverse wrong; the inversion test
    catches it only because the Gaussian mask has such columns)."""
    op = build_operator(MRI, 1, H, W)
    assert set(op.gram_diagonal.unique().tolist()) == {0.0, 0.5, 1.0}
    x = torch.randn(1, 3, H, W, dtype=torch.float64)
    k_in = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))
    k_out = torch.fft.fftshift(torch.fft.fft2(op.adjoint(op.forward(x)), norm="ortho"), dim=(-2, -1))
    assert torch.allclose(k_out, k_in * op.gram_diagonal, atol=1e-12)


def test_mri_noise_only_where_sampled_and_one_mask_per_seed():
    op = build_operator(MRI, 2, H, W)
    x = torch.rand(2, 3, H, W, dtype=torch.float64)
    y = op.measure(x, torch.Generator().manual_seed(0))
    assert torch.equal(y * op.mask, y) and not torch.equal(y, op.forward(x))
    assert op.measured_entries(y).tolist() == [6 * float(op.mask.sum())] * 2
    same, other = build_operator(MRI, 5, H, W), build_operator({**MRI, "operator_seed": 1}, 2, H, W)
    assert same is op and not torch.equal(other.mask, op.mask)
    assert mri(4, "gaussian", None, 0, 3, H, W, 0.01) is op
    y32 = op.measure(x.float(), torch.Generator().manual_seed(0))
    assert y32.dtype == torch.float32 and torch.allclose(y32.double(), y, atol=1e-5)
    assert op.gram_inverse(x.float(), 0.1).dtype == torch.float32


def test_mri_reaches_every_method_as_an_image():
    """The SIREN renders H×W from a 2C-channel k-space measurement, the UNet takes the zero-filled
    image, and gd (Eq. 6) with step 1 fits every sampled value (AᵀA's eigenvalues are 0, ½, 1:
    two steps for the ½ ones)."""
    from metainv.nets.unet import InpaintingUNet
    from metainv.solvers import build_solver

    op = build_operator(MRI, 3, H, W)
    x = torch.rand(3, 3, H, W)
    y = op.forward(x)
    gd = build_solver({"kind": "gd", "steps": 1, "step_size": 1.0})
    x0 = torch.zeros_like(x)
    once = gd(x0, y, op)
    assert torch.allclose(once, op.input_image(y), atol=1e-6)
    residual = op.forward(gd(once, y, op)) - y
    assert float(residual.norm() / y.norm()) < 0.6  # the ½-weighted columns are halfway
    assert InpaintingUNet(channels_per_scale=[4, 8])(y, op).shape == x.shape
