import numpy as np
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
        assert m["SSIM"] == pytest.approx(structural_similarity(gt[i], noisy[i], data_range=1.0, channel_axis=-1), abs=1e-9)
        assert m["MSE"] == pytest.approx(((gt[i] - noisy[i]) ** 2).mean())
        assert torch_psnr[i].item() == pytest.approx(m["PSNR"], abs=1e-6)


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
