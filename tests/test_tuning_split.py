"""Evaluation hygiene (issue 10): every choice reads the tuning split, never the validation split.

The meta-training curve, the denoiser's curve and evaluation, and the RED/HQS parameter search
run with a ``load_split`` that refuses the validation split; and the tuning split is left out of
what is trained on.
"""

import numpy as np
import pytest
import torch

import metainv.data.store as store
from metainv.config import normalise_denoiser_spec, normalise_spec
from metainv.data.store import write_store

TASK = {"name": "deblur", "resolution": 16,
        "operator": {"kind": "blur", "kernel_size": 5, "kernel_std": 1.0, "noise_std": 0.01}}


@pytest.fixture
def tiny_store(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    val = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    write_store(tmp_path / "store", "test", train, val, [f"t{i}" for i in range(12)],
                [f"v{i}" for i in range(4)])
    return tmp_path / "store"


@pytest.fixture
def no_validation(monkeypatch):
    """``load_split`` as the stages import it, raising on the validation split; records the
    training images each stage hands on (to check the tuning tail is not trained on)."""
    real = store.load_split

    def guarded(folder, split, *args, **kwargs):
        if split == "val":
            raise AssertionError("a training/tuning stage read the validation split")
        return real(folder, split, *args, **kwargs)

    import metainv.stages.meta_train as meta_train
    import metainv.stages.train_denoiser as train_denoiser
    import metainv.stages.tune_classical as tune_classical

    for module in (meta_train, train_denoiser, tune_classical):
        monkeypatch.setattr(module, "load_split", guarded)


def test_meta_train_curve_scores_tuning_images_and_trains_without_them(tiny_store, tmp_path, no_validation,
                                                                      monkeypatch):
    from metainv.stages import meta_train as stage

    spec = normalise_spec({"id": "t", "task": TASK, "tuning": 4,
                           "siren": {"hidden": 8, "layers": 2, "omega0": 30},
                           "solver": {"kind": "gd", "steps": 1, "step_size": 0.9},
                           "inner": {"steps": 1, "lr_scheme": "per_step", "lr_init": 0.01},
                           "outer": {"steps": 2, "batch_size": 2, "validate_every": 1, "tuning_images": 3,
                                     "checkpoint_every": 1}})
    seen = []
    real_to_tensor = stage.to_tensor
    monkeypatch.setattr(stage, "to_tensor", lambda a, *r, **k: (seen.append(np.asarray(a)), real_to_tensor(a, *r, **k))[1])
    rows = stage.meta_train(spec, tiny_store, tmp_path / "m/model.pt", tmp_path / "m/log.csv",
                            torch.device("cpu"), progress=False)
    assert len(rows) == 2 and all(np.isfinite(r["tuning_psnr"]) for r in rows)
    train = store.load_split(tiny_store, "train")
    tuning = {a.tobytes() for a in train[8:]}
    assert seen[0].shape[0] == 3 and {a.tobytes() for a in seen[0]} <= tuning  # the curve's images
    for batch in seen[1:]:  # the training batches never hold a tuning image
        assert not {a.tobytes() for a in batch} & tuning


def test_denoiser_and_parameter_search_never_read_validation(tiny_store, tmp_path, no_validation):
    from metainv.stages.train_denoiser import train_denoiser
    from metainv.stages.tune_classical import tune_classical

    dspec = normalise_denoiser_spec({"depth": 2, "features": 4, "tuning": 4, "tuning_images": 4,
                                     "batch_size": 2, "patch_size": 8, "steps": 2, "checkpoint_every": 1,
                                     "validate_every": 1, "resolution": 16})
    result = train_denoiser(dspec, tiny_store, tmp_path / "d/model.pt", tmp_path / "d/log.csv",
                            tmp_path / "d/eval.json", torch.device("cpu"), progress=False)
    assert result["images"] == 4
    spec = normalise_spec({"id": "red_t", "task": TASK, "method": "red", "tuning": 4,
                           "classical": {"steps": 2, "params": {"lam": 100, "sigma_f": 0.05},
                                         "tune": {"images": 3, "grid": {"lam": [10, 100, 1000]}}}})
    chosen = tune_classical(spec, tmp_path / "d/model.pt", tiny_store, tmp_path / "r/tuning.csv",
                            tmp_path / "r/params.json", torch.device("cpu"))
    assert chosen["images"] == 3 and "tuning split" in chosen["source"]
    assert isinstance(chosen["edge"], list)

