"""Operators built from deepinv physics (metainv.physics.DeepinvOperator): the adjoint test,
the data step (AᵀA + ρI)⁻¹, and every place a method meets a measurement that is not an image."""

import pytest
import torch

from metainv.physics import DeepinvOperator, build_operator, compressed_sensing, inner_product

H, W = 16, 24  # the ×4 bicubic filter has 16 taps: deepinv's closed form needs it to fit
CS = {"kind": "compressed_sensing", "ratio": 0.25, "noise_std": 0.01}


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


def test_recon_npz_stores_the_input_image(tmp_path):
    from metainv.recon import load_reconstruction, save_reconstruction

    op = operators()["compressed_sensing"]
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
