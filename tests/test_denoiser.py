"""DnCNN training: augmentation, crops, one step lowers the loss, resume after interruption."""

import json

import numpy as np
import pytest
import torch

from metainv.config import normalise_denoiser_spec
from metainv.data.store import write_store
from metainv.denoiser import (
    evaluate_denoiser, load_denoiser, make_denoiser_step, random_crops, random_dihedral,
    save_denoiser,
)
from metainv.nets.dncnn import DnCNN
from metainv.stages.train_denoiser import train_denoiser


def _dihedral_group(x):
    """The 8 flips/rotations of one C×H×W image."""
    out = []
    for k in range(4):
        r = torch.rot90(x, k, dims=(-2, -1))
        out += [r, r.flip(-1)]
    return out


def test_random_dihedral_applies_one_group_element_per_image():
    x = torch.rand(64, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    out = random_dihedral(x, torch.Generator().manual_seed(1))
    chosen = set()
    for n in range(len(x)):  # test-side loop: identify the transform of each image
        matches = [k for k, g in enumerate(_dihedral_group(x[n])) if torch.equal(g, out[n])]
        assert len(matches) == 1
        chosen.add(matches[0])
    assert len(chosen) == 8  # all eight transforms occur, image by image


def test_random_crops_are_windows_of_each_image():
    x = torch.rand(6, 3, 10, 12, generator=torch.Generator().manual_seed(0))
    crops = random_crops(x, 4, torch.Generator().manual_seed(2))
    assert crops.shape == (6, 3, 4, 4)
    offsets = set()
    for n in range(len(x)):
        found = [(i, j) for i in range(7) for j in range(9) if torch.equal(x[n, :, i : i + 4, j : j + 4], crops[n])]
        assert found
        offsets.add(found[0])
    assert len(offsets) > 1  # per-image offsets, not one per batch
    assert random_crops(x, 64, torch.Generator()) is x


def _images(n, size=16, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n, 4, 4, 3)).astype(np.float32)
    smooth = torch.nn.functional.interpolate(torch.from_numpy(base).permute(0, 3, 1, 2), size=(size, size),
                                             mode="bilinear", align_corners=False)
    return smooth.permute(0, 2, 3, 1).round().clamp(0, 255).numpy().astype(np.uint8)


def test_one_training_step_lowers_the_loss():
    """Replay the same batch (same generator state): the loss after one Adam step is lower."""
    torch.manual_seed(0)
    net = DnCNN(depth=4, features=8)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    step = make_denoiser_step(net, opt, _images(8), gen, noise_std=0.05, batch_size=8, patch_size=12)
    state = gen.get_state()
    first = step(0)["loss"]
    gen.set_state(state)
    second = step(1)["loss"]
    assert second < first, (first, second)


def test_learning_rate_schedule_is_a_function_of_the_step():
    net = DnCNN(depth=3, features=4)
    opt = torch.optim.Adam(net.parameters(), lr=1.0)
    step = make_denoiser_step(net, opt, _images(4), torch.Generator().manual_seed(0), 0.05, 2, 8,
                              lr_at=lambda k: 1e-3 if k < 5 else 1e-4)
    step(0)
    assert opt.param_groups[0]["lr"] == 1e-3
    step(7)
    assert opt.param_groups[0]["lr"] == 1e-4


def test_save_load_roundtrip_frozen_eval(tmp_path):
    net = DnCNN(depth=3, features=4, noise_level=0.07)
    save_denoiser(net, tmp_path / "m.pt")
    loaded = load_denoiser(tmp_path / "m.pt")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert float(loaded.noise_level) == pytest.approx(0.07)
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(loaded(x), net.eval()(x))
    assert any(p.requires_grad for p in load_denoiser(tmp_path / "m.pt", trainable=True).parameters())


def test_evaluate_denoiser_identity_scores_the_noisy_input():
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    ev = evaluate_denoiser(torch.nn.Identity(), x, 0.05, seed=0)
    assert ev["denoised_psnr"] == pytest.approx(ev["noisy_psnr"])
    assert 24 < ev["noisy_psnr"] < 28  # 10·log10(1/0.05²) ≈ 26 dB


def _spec(**over):
    """A tiny DnCNN run; the rest are the schema defaults (metainv.config)."""
    spec = {"depth": 3, "features": 8, "tuning": 4, "tuning_images": 4, "batch_size": 4, "patch_size": 12,
            "lr_decay_at": 0.5, "steps": 8, "checkpoint_every": 2, "validate_every": 4, "resolution": 16}
    spec.update(over)
    return normalise_denoiser_spec(spec)


@pytest.fixture
def tiny_store(tmp_path):
    folder = tmp_path / "store"
    write_store(folder, "test", _images(16), _images(4, seed=1), [f"t{i}" for i in range(16)],
                [f"v{i}" for i in range(4)])
    return folder


def test_train_denoiser_writes_model_log_and_eval(tiny_store, tmp_path):
    out = tmp_path / "run"
    result = train_denoiser(_spec(), tiny_store, out / "model.pt", out / "train_log.csv", out / "eval.json",
                            torch.device("cpu"), progress=False)
    assert (out / "model.pt").exists() and (out / "checkpoint.pt").exists()
    saved = json.loads((out / "eval.json").read_text())
    assert saved["steps"] == 8 and saved["images"] == 4
    assert saved["gain_db"] == pytest.approx(saved["denoised_psnr"] - saved["noisy_psnr"])
    assert result == saved
    log = (out / "train_log.csv").read_text().splitlines()
    assert len(log) == 9 and "tuning_psnr" in log[0]
    assert float(load_denoiser(out / "model.pt").noise_level) == pytest.approx(0.05)


class _Interrupt(Exception):
    pass


def test_train_denoiser_resumes_after_interruption(tiny_store, tmp_path, monkeypatch):
    """Kill the run after 5 steps (checkpoint at 4), rerun: the weights equal those of an
    uninterrupted run, since batches, noise and lr all derive from checkpointed state."""
    import metainv.stages.train_denoiser as den

    ref = tmp_path / "ref"
    train_denoiser(_spec(), tiny_store, ref / "model.pt", ref / "log.csv", ref / "eval.json",
                   torch.device("cpu"), progress=False)

    original = den.make_denoiser_step

    def dying(*args, **kwargs):
        step = original(*args, **kwargs)

        def wrapped(k):
            if k == 5:
                raise _Interrupt
            return step(k)

        return wrapped

    run = tmp_path / "run"
    monkeypatch.setattr(den, "make_denoiser_step", dying)
    with pytest.raises(_Interrupt):
        train_denoiser(_spec(), tiny_store, run / "model.pt", run / "log.csv", run / "eval.json",
                       torch.device("cpu"), progress=False)
    assert not (run / "model.pt").exists()
    assert torch.load(run / "checkpoint.pt", weights_only=False)["step"] == 4
    monkeypatch.setattr(den, "make_denoiser_step", original)
    train_denoiser(_spec(), tiny_store, run / "model.pt", run / "log.csv", run / "eval.json",
                   torch.device("cpu"), progress=False)
    a = torch.load(ref / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(run / "model.pt", weights_only=True)["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_a_dncnn_file_that_would_run_code_is_refused_naming_it(tmp_path):
    from metainv.train import UnsafeFileError

    class CreatesAFile:
        def __reduce__(self):
            return (open, (str(tmp_path / "created"), "w"))

    save_denoiser(DnCNN(depth=3, features=4), tmp_path / "dncnn.pt", extra=CreatesAFile())
    with pytest.raises(UnsafeFileError, match="dncnn.pt"):
        load_denoiser(tmp_path / "dncnn.pt")
    assert not (tmp_path / "created").exists()
