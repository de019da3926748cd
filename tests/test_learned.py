"""Learned baselines end to end on a tiny store: train (resumable), keep the best tuning-curve
step, save, load, reconstruct."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from metainv.config import normalise_spec
from metainv.data.store import load_split, split_tuning, to_tensor, write_store
from metainv.learned import load_learned
from metainv.metrics import psnr_torch
from metainv.recon import tuning_measurement
from metainv.stages.reconstruct import reconstruct
from metainv.stages.train_unet import train_unet
from metainv.stages.train_unrolled import train_unrolled

CPU = torch.device("cpu")


def _images(n, size, seed):
    base = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    x = torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    return (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


def _store(folder, size):
    write_store(folder, "test", _images(24, size, 0), _images(6, size, 1), [f"t{i}" for i in range(24)],
                [f"v{i}" for i in range(6)])
    return folder


TRAIN = {"lr": 3e-3, "batch_size": 4, "steps": 6, "loss": "l2", "checkpoint_every": 2, "validate_every": 3,
         "tuning_images": 3, "grad_clip": None}


def unet_spec(**train):
    return normalise_spec({"id": "unet_random", "seed": 0, "tuning": 6, "method": "unet",
            "task": {"name": "inpaint_random", "resolution": 16,
                     "operator": {"kind": "inpaint_random", "observed_range": [10, 200], "half_probability": 0.2}},
            "unet": {"channels_per_scale": [4, 8], "batch_norm": True},
            "train": {**TRAIN, **train}, "eval": {"batch_size": 4, "observed": 20}})


def reconstruct_learned(spec, model_path, store, out_path, device):
    return reconstruct(spec, store, out_path, device, model_path=model_path)


def test_unet_trains_saves_and_reconstructs_with_k_observed_pixels(tmp_path):
    store = _store(tmp_path / "store", 16)
    out = tmp_path / "run"
    spec = unet_spec()
    rows = train_unet(spec, store, out / "model.pt", out / "train_log.csv", CPU, progress=False,
                      curve_path=out / "curve.png")
    assert (out / "curve.png").exists()
    assert len(rows) == 6 and "tuning_psnr" in rows[2] and (out / "checkpoint.pt").exists()
    recon = reconstruct_learned(spec, out / "model.pt", store, out / "recon.npz", CPU)
    with np.load(recon) as f:
        assert f["recon"].shape == (6, 16, 16, 3)
        assert (f["mask"].reshape(6, -1).sum(1) == 20).all()  # exactly K observed per image
        # the stored measurement is the zero-filled input
        assert (f["measurement"][~f["mask"][:, 0]] == 0).all()
    model = load_learned(out / "model.pt")
    assert not model.training and model.hparams()["channels_per_scale"] == [4, 8]


class _Interrupt(Exception):
    pass


def test_unet_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    store = _store(tmp_path / "store", 16)
    ref, run = tmp_path / "ref", tmp_path / "run"
    train_unet(unet_spec(), store, ref / "model.pt", ref / "log.csv", CPU, progress=False)

    import metainv.learned as learned

    original = learned.make_supervised_step

    def dying(*args, **kwargs):
        step = original(*args, **kwargs)

        def wrapped(k):
            if k == 3:
                raise _Interrupt
            return step(k)

        return wrapped

    monkeypatch.setattr(learned, "make_supervised_step", dying)
    with pytest.raises(_Interrupt):
        train_unet(unet_spec(), store, run / "model.pt", run / "log.csv", CPU, progress=False)
    monkeypatch.setattr(learned, "make_supervised_step", original)
    train_unet(unet_spec(), store, run / "model.pt", run / "log.csv", CPU, progress=False)
    a, b = torch.load(ref / "model.pt")["state_dict"], torch.load(run / "model.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("method", ["red", "hqs"])
def test_unrolled_with_no_training_reproduces_the_classical_reconstruction(tmp_path, method):
    """0 steps: recon.npz equals the classical solver's on the same evaluation measurements;
    a few steps: the DnCNN weights move, the pretrained file does not."""
    from metainv.denoiser import load_denoiser, save_denoiser
    from metainv.nets.dncnn import DnCNN

    store = _store(tmp_path / "store", 16)
    torch.manual_seed(0)
    net = DnCNN(depth=3, features=4).eval()
    with torch.no_grad():
        net.body[-1].weight.mul_(0.1)
    save_denoiser(net, tmp_path / "dncnn.pt")
    params = {"red": {"lam": 100.0, "sigma_f": 0.05}, "hqs": {"lam": 0.23, "sigma_start": 0.1, "sigma_end": 0.03}}
    (tmp_path / "params.json").write_text(json.dumps({"params": params[method]}))
    task = {"name": "deblur", "resolution": 16,
            "operator": {"kind": "blur", "kernel_size": 5, "kernel_std": 1.0, "noise_std": 0.015}}
    spec = normalise_spec({"id": f"{method}_unrolled", "seed": 0, "tuning": 6, "method": "unrolled", "task": task,
                           "unrolled": {"solver": method, "steps": 4, "params_from": f"{method}_12"},
                           "train": {**TRAIN, "steps": 0}, "eval": {"batch_size": 4, "observed": None}})
    out = tmp_path / "run"
    train_unrolled(spec, store, tmp_path / "dncnn.pt", tmp_path / "params.json", out / "model.pt", out / "log.csv",
                   CPU, progress=False)
    reconstruct_learned(spec, out / "model.pt", store, out / "recon.npz", CPU)
    classical = normalise_spec({"id": "c", "seed": 0, "tuning": 6, "method": method, "task": task,
                                "classical": {"steps": 4, "tol": None, "max_steps": 10, "batch_size": 4}})
    reconstruct(classical, store, tmp_path / "classical.npz", CPU, params_path=tmp_path / "params.json",
                denoiser_path=tmp_path / "dncnn.pt")
    with np.load(out / "recon.npz") as a, np.load(tmp_path / "classical.npz") as b:
        np.testing.assert_array_equal(a["recon"], b["recon"])
        np.testing.assert_array_equal(a["measurement"], b["measurement"])

    spec["train"]["steps"] = 4
    train_unrolled(spec, store, tmp_path / "dncnn.pt", tmp_path / "params.json", out / "model2.pt",
                   out / "log2.csv", CPU, progress=False)
    tuned = load_learned(out / "model2.pt").denoiser.state_dict()
    pretrained = load_denoiser(tmp_path / "dncnn.pt").state_dict()
    assert not torch.equal(tuned["body.0.weight"], pretrained["body.0.weight"])
    # BatchNorm running statistics are the pretrained ones: the prior stays in eval mode
    assert torch.equal(tuned["body.3.running_mean"], pretrained["body.3.running_mean"])


@pytest.mark.parametrize("keep", ["best", "last"])
def test_the_learned_baselines_keep_the_step_of_meta_s_rule(tmp_path, keep):
    """train.keep (as Meta's outer.keep): best → model.pt holds the step where the tuning
    curve peaked, and re-scoring those weights on the tuning measurements (tuning seed) gives
    that step's logged tuning_psnr; last → the last step."""
    store = _store(tmp_path / "store", 16)
    spec = unet_spec(steps=8, validate_every=1, lr=0.1, keep=keep)  # a noisy curve
    out = tmp_path / keep
    train_unet(spec, store, out / "model.pt", out / "log.csv", CPU, progress=False)
    log = pd.read_csv(out / "log.csv")
    blob = torch.load(out / "model.pt", weights_only=True)
    best = int(log.step[log.tuning_psnr.idxmax()])
    assert blob["selected_step"] == (best if keep == "best" else 8)
    train = load_split(store, "train")
    _, tuning = split_tuning(len(train), spec["tuning"])
    x = to_tensor(train[tuning][: spec["train"]["tuning_images"]], CPU)
    op, y = tuning_measurement(spec, x, spec["eval"]["observed"])
    with torch.no_grad():
        score = psnr_torch(load_learned(out / "model.pt")(y, op), x).mean().item()
    logged = float(log.tuning_psnr[log.step == blob["selected_step"]].iloc[0])
    assert score == pytest.approx(logged, abs=1e-4)
    if keep == "best":
        assert best < 8  # this run's curve peaks before its end: the test tells best from last


def test_a_tampered_learned_model_is_refused_and_runs_nothing(tmp_path):
    from metainv.train import UnsafeFileError

    class CreatesAFile:
        def __reduce__(self):
            return (open, (str(tmp_path / "created"), "w"))

    store = _store(tmp_path / "store", 16)
    spec = unet_spec(steps=1)
    train_unet(spec, store, tmp_path / "model.pt", tmp_path / "log.csv", CPU, progress=False)
    blob = torch.load(tmp_path / "model.pt", weights_only=True)
    torch.save({**blob, "hparams": {**blob["hparams"], "x": CreatesAFile()}}, tmp_path / "model.pt")
    with pytest.raises(UnsafeFileError, match="model.pt"):
        reconstruct_learned(spec, tmp_path / "model.pt", store, tmp_path / "recon.npz", CPU)
    assert not (tmp_path / "created").exists()
