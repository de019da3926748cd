"""Linear interpolation of observed pixels (Table 2's classical reference) and its stage."""

import numpy as np
import pytest
import torch

from metainv.config import normalise_spec
from metainv.data.store import write_store
from metainv.recon import evaluation_measurement, load_reconstruction
from metainv.solvers.interpolate import interpolate_batch, interpolate_image
from metainv.stages.reconstruct import reconstruct


def _affine(h=16, w=16):
    i, j = np.mgrid[0:h, 0:w] / 16.0
    return np.stack([0.2 + 0.3 * i + 0.1 * j, 0.5 - 0.2 * j, 0.1 + 0.25 * i])


def test_an_affine_image_is_recovered_inside_the_hull_and_observed_pixels_are_kept():
    x = _affine()
    rng = np.random.default_rng(0)
    mask = (rng.random((16, 16)) < 0.3).astype(np.float32)
    mask[[0, 0, -1, -1], [0, -1, 0, -1]] = 1  # corners observed: the hull is the whole image
    out = interpolate_image(x * mask, mask)
    np.testing.assert_allclose(out, x, atol=1e-12)  # piecewise linear is exact on affine images
    mask[[0, 0, -1, -1], [0, -1, 0, -1]] = 0
    mask[0, :] = 0
    mask[:, 0] = 0
    out = interpolate_image(x * mask, mask)
    np.testing.assert_allclose(out[:, mask > 0], x[:, mask > 0], atol=1e-12)
    assert np.isfinite(out).all()
    # outside the hull: the nearest observed pixel's value
    observed = np.argwhere(mask > 0)
    dist = (observed ** 2).sum(1)
    nearest = observed[dist == dist.min()]  # ties: any of them
    assert any(np.allclose(out[:, 0, 0], x[:, i, j]) for i, j in nearest)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_too_few_points_for_a_triangle(k):
    x = _affine()
    mask = np.zeros((16, 16))
    mask.flat[[5, 100][:k]] = 1
    out = interpolate_image(x * mask, mask)
    assert out.shape == x.shape and np.isfinite(out).all()
    if k == 1:
        np.testing.assert_array_equal(out, np.broadcast_to(x[:, 0, 5, None, None], x.shape))


def test_interpolation_beats_the_zero_filled_input_on_smooth_images():
    gen = torch.Generator().manual_seed(0)
    x = torch.nn.functional.interpolate(torch.rand(3, 3, 4, 4, generator=gen), size=(32, 32),
                                        mode="bilinear", align_corners=False).numpy()
    mask = (np.random.default_rng(1).random((3, 1, 32, 32)) < 0.3).astype(np.float32)
    out = interpolate_batch(x * mask, mask)
    err_out = ((out - x) ** 2).mean((1, 2, 3))
    err_in = ((x * mask - x) ** 2).mean((1, 2, 3))
    assert (err_out < 0.05 * err_in).all()


def test_stage_uses_the_evaluation_masks_of_the_task(tmp_path):
    rng = np.random.default_rng(2)
    val = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    write_store(tmp_path, "toy", val, val, ["a", "b", "c"], ["a", "b", "c"])
    spec = normalise_spec({"id": "interp_k50", "method": "interp", "eval": {"observed": 50},
                           "task": {"name": "inpaint_random", "resolution": 16,
                                    "operator": {"kind": "inpaint_random", "noise_std": 0.0}}})
    reconstruct(spec, tmp_path, tmp_path / "recon.npz", torch.device("cpu"))
    rec = load_reconstruction(tmp_path / "recon.npz")
    gt = torch.from_numpy(val).permute(0, 3, 1, 2).float() / 255
    op, y = evaluation_measurement(spec, gt)  # what every method of the task is scored on
    np.testing.assert_array_equal(rec.mask, op.mask.numpy().astype(bool))
    assert (rec.mask.reshape(3, -1).sum(1) == 50).all()
    m = rec.mask[:, 0, :, :, None]
    np.testing.assert_allclose(rec.recon.astype(np.float32) * m, (val / 255.0 * m).astype(np.float32), atol=1e-3)
