import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from metainv.data.store import write_store
from metainv.metrics import image_metrics, psnr_torch
from metainv.recon import load_reconstruction, save_reconstruction
from metainv.stages.evaluate import evaluate_reconstruction


def test_metrics_agree_with_skimage():
    rng = np.random.default_rng(0)
    gt = rng.random((4, 16, 16, 3))
    noisy = np.clip(gt + 0.05 * rng.standard_normal(gt.shape), 0, 1)
    torch_psnr = psnr_torch(torch.from_numpy(noisy).permute(0, 3, 1, 2), torch.from_numpy(gt).permute(0, 3, 1, 2))
    for i in range(4):
        m = image_metrics(noisy[i], gt[i])
        assert m["PSNR"] == pytest.approx(peak_signal_noise_ratio(gt[i], noisy[i], data_range=1.0), abs=1e-9)
        assert m["SSIM"] == pytest.approx(structural_similarity(
            gt[i], noisy[i], data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False), abs=1e-9)
        assert m["MSE"] == pytest.approx(((gt[i] - noisy[i]) ** 2).mean())
        assert torch_psnr[i].item() == pytest.approx(m["PSNR"], abs=1e-6)


def test_mse_and_psnr_are_skimages_to_the_bit():
    """image_metrics writes skimage's MSE and PSNR out (to keep scipy.stats out of the process):
    the same float64 values, not just close, for float32 and float64 inputs, clipped or not."""
    from skimage.metrics import mean_squared_error

    rng = np.random.default_rng(7)
    for shape, dtype in [((16, 16, 3), np.float64), ((32, 24, 3), np.float32), ((12, 16, 1), np.float32)]:
        gt = rng.random(shape).astype(dtype)
        x = (gt + 0.2 * rng.standard_normal(shape)).astype(dtype)  # some pixels outside [0, 1]
        m = image_metrics(x, gt)
        clipped = np.clip(x.astype(np.float64), 0.0, 1.0)
        assert m["MSE"] == float(mean_squared_error(gt.astype(np.float64), clipped))
        assert m["PSNR"] == float(peak_signal_noise_ratio(gt.astype(np.float64), clipped, data_range=1.0))
    assert image_metrics(gt, gt)["PSNR"] == np.inf  # skimage's value for identical images


def test_scoring_does_not_import_scipy_stats():
    """What writing MSE/PSNR out is for: scoring a reconstruction never loads scipy.stats."""
    code = ("import sys, numpy as np; from metainv.metrics import evaluate_batch; "
            "x = np.random.rand(2, 16, 16, 3); evaluate_batch(x, x[::-1]); "
            "print('scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def _ssim_wang(x, y):
    """SSIM of Wang et al. (2004) written out: Gaussian window σ = 1.5 truncated at 3.5σ
    (11 × 11), population moments, C1 = (0.01)², C2 = (0.03)², map averaged away from the
    5-pixel border and over channels (what DPIR/KAIR's calculate_ssim computes)."""
    from scipy.ndimage import gaussian_filter

    def g(a):
        return gaussian_filter(a, 1.5, truncate=3.5, mode="reflect")

    c1, c2, values = 0.01 ** 2, 0.03 ** 2, []
    for c in range(x.shape[-1]):
        a, b = x[..., c], y[..., c]
        ma, mb = g(a), g(b)
        va, vb, cov = g(a * a) - ma ** 2, g(b * b) - mb ** 2, g(a * b) - ma * mb
        s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))
        values.append(s[5:-5, 5:-5].mean())
    return float(np.mean(values))


def test_ssim_is_wang_et_al_gaussian_window():
    rng = np.random.default_rng(3)
    gt = np.clip(rng.random((24, 24, 3)) * 0.5 + np.linspace(0, 0.5, 24)[:, None, None], 0, 1)
    blurred = np.clip(gt + 0.05 * rng.standard_normal(gt.shape), 0, 1)
    ssim = image_metrics(blurred, gt)["SSIM"]
    assert ssim == pytest.approx(_ssim_wang(blurred, gt), abs=1e-9)
    # not skimage's default (7×7 uniform window, sample covariances): the switch matters
    default = structural_similarity(gt, blurred, data_range=1.0, channel_axis=-1)
    assert abs(ssim - default) > 1e-3
    assert image_metrics(gt, gt)["SSIM"] == pytest.approx(1.0)


def test_evaluate_reconstruction_against_store(tmp_path):
    rng = np.random.default_rng(1)
    val = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    write_store(tmp_path, "toy", val, val, ["a", "b", "c"], ["a", "b", "c"])
    gt = torch.from_numpy(val).permute(0, 3, 1, 2).double() / 255
    recon = (gt + 0.02 * torch.randn(gt.shape, dtype=torch.float64)).clamp(0, 1)
    save_reconstruction(tmp_path / "recon.npz", recon, torch.zeros_like(gt))
    frame = evaluate_reconstruction(str(tmp_path / "recon.npz"), str(tmp_path))
    assert list(frame["index"]) == [0, 1, 2]
    # float16 storage of the reconstruction changes PSNR by far less than reported precision
    expected = peak_signal_noise_ratio(val[1] / 255.0, recon[1].permute(1, 2, 0).numpy(), data_range=1.0)
    assert frame.PSNR[1] == pytest.approx(expected, abs=0.01)
    assert (frame.input_PSNR < frame.PSNR).all()
    stored = load_reconstruction(tmp_path / "recon.npz")
    assert stored.recon.dtype == np.float16 and stored.recon.shape == (3, 16, 16, 3) and stored.mask is None


def test_evaluate_reconstruction_adds_the_lpips_columns_asked_for(tmp_path):
    from metainv.perceptual import lpips_distance

    rng = np.random.default_rng(2)
    val = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    write_store(tmp_path, "toy", val, val, ["a", "b", "c"], ["a", "b", "c"])
    gt = torch.from_numpy(val).permute(0, 3, 1, 2).double() / 255
    recon = (gt + 0.02 * torch.randn(gt.shape, dtype=torch.float64)).clamp(0, 1)
    save_reconstruction(tmp_path / "recon.npz", recon, 0.5 * gt)
    frame = evaluate_reconstruction(str(tmp_path / "recon.npz"), str(tmp_path), ["alex", "vgg"])
    assert {"LPIPS_alex", "LPIPS_vgg", "input_LPIPS_alex", "input_LPIPS_vgg"} <= set(frame.columns)
    with np.load(tmp_path / "recon.npz") as f:
        stored = f["recon"]
    np.testing.assert_allclose(frame.LPIPS_vgg, lpips_distance(stored, val / 255.0, "vgg"), rtol=1e-6)
    # the nearly exact reconstruction is perceptually closer than the darkened input
    assert (frame.LPIPS_alex < frame.input_LPIPS_alex).all() and (frame.LPIPS_vgg < frame.input_LPIPS_vgg).all()
    assert "LPIPS_alex" not in evaluate_reconstruction(str(tmp_path / "recon.npz"), str(tmp_path)).columns
    with pytest.raises(ValueError, match="LPIPS net"):
        evaluate_reconstruction(str(tmp_path / "recon.npz"), str(tmp_path), ["squeeze"])


def test_reconstruct_with_metrics_scores_what_it_wrote_as_evaluate_does(tmp_path):
    """The workflow's one job per experiment (``reconstruct --metrics``) writes the metrics.csv
    that ``evaluate`` computes from the stored recon.npz."""
    import json

    from metainv.cli import main
    from metainv.stages.evaluate import evaluate

    val = np.random.default_rng(3).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    write_store(tmp_path, "toy", val, val, ["a", "b", "c"], ["a", "b", "c"])
    spec = {"id": "interp_k50", "method": "interp", "eval": {"observed": 50},
            "task": {"name": "inpaint_random", "resolution": 16,
                     "operator": {"kind": "inpaint_random", "noise_std": 0.0}}}
    assert main(["reconstruct", "--spec", json.dumps(spec), "--data", str(tmp_path), "--out",
                 str(tmp_path / "recon.npz"), "--metrics", str(tmp_path / "metrics.csv"), "--device", "cpu"]) == 0
    evaluate(tmp_path / "recon.npz", tmp_path, tmp_path / "evaluated.csv")
    scored = pd.read_csv(tmp_path / "metrics.csv")
    pd.testing.assert_frame_equal(scored, pd.read_csv(tmp_path / "evaluated.csv"))
    assert len(scored) == 3 and (scored.PSNR > scored.input_PSNR).all()
