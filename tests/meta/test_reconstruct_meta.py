"""Stage reconstruct with a meta experiment (Algorithm 1 on the validation set): the
evaluation-only final solver step, per-image masks across evaluation batches, and a meta
model.pt that would run code refused before it does."""

import numpy as np
import pytest
import torch

from metainv.config import normalise_spec
from metainv.data.store import write_store
from metainv.recon import evaluation_measurement, load_reconstruction
from metainv.stages.meta_train import meta_train
from metainv.stages.reconstruct import reconstruct

CPU = torch.device("cpu")


def _spec(**eval_):
    return normalise_spec({
        "id": "t", "tuning": 2, "task": {"name": "inpaint_random", "resolution": 16,
                            "operator": {"kind": "inpaint_random", "observed_range": [20, 120],
                                         "noise_std": 0.0}},
        "siren": {"hidden": 16, "layers": 3},
        "inner": {"steps": 2, "lr_scheme": "meta_sgd"},
        "solver": {"kind": "gd", "steps": 1, "step_size": 0.9, "eval_step_size": 1.0},
        "outer": {"lr": 1e-3, "batch_size": 2, "steps": 3, "checkpoint_every": 10, "validate_every": 0,
                  "tuning_images": 2},
        "eval": {"batch_size": 7, "observed": 60, **eval_}})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recon")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    names = [f"img{i}" for i in range(12)]
    write_store(folder, "toy", images[:5], images[5:], names[:5], names[5:])
    meta_train(_spec(), folder, folder / "model.pt", folder / "log.csv", CPU, progress=False)
    return folder


def _run(folder, spec, name):
    reconstruct(spec, folder, folder / name, CPU, model_path=folder / "model.pt")
    return load_reconstruction(folder / name)


def _observed(rec):
    return rec.mask[:, 0, :, :, None].repeat(3, -1)


def test_the_evaluation_final_step_is_eval_step_size(trained):
    """gd with eval_step_size 1 puts the observed pixels back exactly (x − 1·M(x − y)); the
    training step 0.9 (or any other) would not; the model, inner loop and hidden pixels are
    the same whichever final step is used."""
    spec = _spec()
    exact = _run(trained, spec, "exact.npz")
    spec_half = _spec()
    spec_half["solver"]["eval_step_size"] = 0.5
    half = _run(trained, spec_half, "half.npz")
    obs = _observed(exact)
    y = exact.measurement.astype(np.float32)
    np.testing.assert_allclose(exact.recon[obs].astype(np.float32), y[obs], atol=1e-3)
    gap = np.abs(half.recon[obs].astype(np.float32) - y[obs])
    assert gap.mean() > 0.02  # not put back: halfway between the SIREN and y
    # x_{1/2} = (x₀ + y)/2 on observed pixels, x₀ the adapted SIREN image, unchanged elsewhere
    np.testing.assert_array_equal(half.recon[~obs], exact.recon[~obs])
    spec_train = _spec()
    spec_train["solver"]["eval_step_size"] = 0.9
    train_step = _run(trained, spec_train, "train_step.npz")
    x0 = 2 * half.recon.astype(np.float32) - y
    np.testing.assert_allclose(train_step.recon[obs].astype(np.float32), (0.1 * x0 + 0.9 * y)[obs], atol=3e-3)


def test_per_image_masks_stay_aligned_across_evaluation_batches(trained):
    whole = _run(trained, _spec(batch_size=7), "whole.npz")
    batched = _run(trained, _spec(batch_size=3), "batched.npz")  # batches of 3, 3, 1
    np.testing.assert_array_equal(whole.mask, batched.mask)
    np.testing.assert_allclose(batched.recon.astype(np.float32), whole.recon.astype(np.float32), atol=2e-3)
    # each image's stored mask is the one its measurement was made with, and it is per image
    gt = torch.from_numpy(np.load(trained / "val.npy")).permute(0, 3, 1, 2).float() / 255
    op, y = evaluation_measurement(_spec(), gt)
    np.testing.assert_array_equal(batched.mask, op.mask.numpy().astype(bool))
    assert len({m.tobytes() for m in batched.mask}) == len(batched.mask)
    # and the data-consistency step used that same image's mask: observed pixels equal y
    obs = _observed(batched)
    np.testing.assert_allclose(batched.recon[obs].astype(np.float32),
                               y.permute(0, 2, 3, 1).numpy()[obs], atol=1e-3)


def test_data_consistency_keeps_exactly_the_observed_pixels(tmp_path):
    """``eval.data_consistency`` (Table 2, "Meta + DC"): the bare SIREN output of a solver-free
    model with its observed pixels replaced by y, every other pixel untouched."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    names = [f"img{i}" for i in range(12)]
    write_store(tmp_path, "toy", images[:5], images[5:], names[:5], names[5:])
    spec = _spec()
    spec["solver"] = {**spec["solver"], "kind": "none", "steps": 0}
    meta_train(spec, tmp_path, tmp_path / "model.pt", tmp_path / "log.csv", CPU, progress=False)
    bare = _run(tmp_path, spec, "bare.npz")
    spec_dc = _spec(data_consistency=True)
    spec_dc["solver"] = {"kind": "none", "steps": 0}
    dc = _run(tmp_path, spec_dc, "dc.npz")
    obs = _observed(dc)
    y = dc.measurement.astype(np.float32)
    np.testing.assert_array_equal(dc.mask, bare.mask)
    assert np.abs(bare.recon[obs].astype(np.float32) - y[obs]).mean() > 0.02  # the SIREN alone misses
    np.testing.assert_allclose(dc.recon[obs].astype(np.float32), y[obs], atol=1e-3)
    np.testing.assert_array_equal(dc.recon[~obs], bare.recon[~obs])


class _CreatesAFile:
    """Unpickling this calls open(path, "w"): a stand-in for any code a pickle can run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_tampered_model_file_is_refused_and_runs_nothing(trained, tmp_path):
    """A model.pt with one extra entry whose unpickling would create a file (issue: model
    files reach users through `dvc pull`): refused naming the file, and the file is not created."""
    from metainv.train import UnsafeFileError

    state = torch.load(trained / "model.pt", weights_only=True)
    witness = tmp_path / "created_by_unpickling"
    tampered = tmp_path / "model.pt"
    torch.save({**state, "extra": _CreatesAFile(witness)}, tampered)
    with pytest.raises(UnsafeFileError, match=str(tampered)):
        reconstruct(_spec(), trained, tmp_path / "recon.npz", CPU, model_path=tampered)
    assert not witness.exists()
    assert not (tmp_path / "recon.npz").exists()


def test_the_curve_is_measured_with_the_tuning_seed_and_keep_best_selects_its_peak(tmp_path):
    """The training curve's measurements are the tuning split's (metainv.recon.tuning_seed, the
    seed classical searches use): re-scoring the kept weights on tuning_measurement gives the
    logged tuning_psnr of model.pt's selected_step, the curve's highest."""
    import pandas as pd

    from metainv.data.store import load_split, split_tuning, to_tensor
    from metainv.metrics import psnr_torch
    from metainv.reconstructors import load_reconstructor
    from metainv.recon import tuning_measurement

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    names = [f"img{i}" for i in range(12)]
    write_store(tmp_path, "toy", images[:5], images[5:], names[:5], names[5:])
    spec = _spec()
    spec["outer"].update(steps=6, validate_every=1, lr=3e-2)
    meta_train(spec, tmp_path, tmp_path / "model.pt", tmp_path / "log.csv", CPU, progress=False)
    log = pd.read_csv(tmp_path / "log.csv")
    selected = torch.load(tmp_path / "model.pt", weights_only=True)["selected_step"]
    assert selected == int(log.step[log.tuning_psnr.idxmax()])
    train = load_split(tmp_path, "train")
    _, tuning = split_tuning(len(train), spec["tuning"])
    x = to_tensor(train[tuning][: spec["outer"]["tuning_images"]], CPU)
    op, y = tuning_measurement(spec, x, spec["eval"]["observed"])
    method = load_reconstructor(spec, {"model": tmp_path / "model.pt"}, CPU)
    score = psnr_torch(method.reconstruct_all(y, op), x).mean().item()
    assert score == pytest.approx(float(log.tuning_psnr[log.step == selected].iloc[0]), abs=1e-4)
