"""Centre inpainting learns faces, not just the average face (issues 10 and 23).

Meta-trains a small centre-inpainting model (Algorithm 2, per-step rates, gradient descent as
the solver) on the embedded sample faces for a few hundred outer steps through the meta_train
and reconstruct stages, and compares it, on the validation faces and the same measurements,
with the hole filled by the mean of the training images the model was trained on. The mean
image is the best *fixed* fill in L2; a model that adapts nothing to the measurement cannot beat
it. Two models: the full SIREN (every weight adapted), and Meta-FiLM (a shared SIREN, a latent
z = 0 mapped linearly to shift modulations, only z adapted).
"""

import numpy as np
import pytest
import torch

from metainv.config import normalise_spec
from metainv.data.sample import prepare_sample
from metainv.data.store import load_split, split_tuning
from metainv.meta.model import build_model
from metainv.metamodel import load_meta_model
from metainv.metrics import image_metrics
from metainv.nets.modulated_siren import ModulatedSiren
from metainv.recon import load_reconstruction
from metainv.stages.meta_train import meta_train
from metainv.stages.reconstruct import reconstruct

pytestmark = pytest.mark.slow
CPU = torch.device("cpu")
TUNING = 8


def centre_spec(inner_steps: int, **blocks) -> dict:
    spec = {"id": "centre", "tuning": TUNING, "seed": 0,
            "task": {"name": "inpaint_center", "resolution": 32, "operator": {"kind": "inpaint_center"}},
            "siren": {"hidden": 32, "layers": 3},
            "inner": {"steps": inner_steps},
            "outer": {"lr": 1e-3, "inner_lr_lr": 0.05, "steps": 200, "checkpoint_every": 1000,
                      "validate_every": 0, "tuning_images": 4},
            "eval": {"batch_size": 20}}
    for block, values in blocks.items():
        spec[block] = {**spec.get(block, {}), **values}
    return normalise_spec(spec)


def train_and_score(spec: dict, tmp_path) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """(training log, per-face PSNR of the model, of the mean-image fill) on the validation faces."""
    torch.set_num_threads(1)
    store = tmp_path / "store"
    prepare_sample(store, 32, n_val=20)
    log = meta_train(spec, store, tmp_path / "model.pt", tmp_path / "log.csv", CPU, progress=False)
    reconstruct(spec, store, tmp_path / "recon.npz", CPU, model_path=tmp_path / "model.pt")
    rec = load_reconstruction(tmp_path / "recon.npz")
    train = load_split(store, "train").astype(np.float64) / 255
    fit, _ = split_tuning(len(train), TUNING)
    truth = load_split(store, "val").astype(np.float64) / 255
    mean_fill = np.where(rec.mask[:, 0, :, :, None], rec.measurement.astype(np.float64), train[fit].mean(axis=0))
    model = np.array([image_metrics(x, t)["PSNR"] for x, t in zip(rec.recon, truth)])
    baseline = np.array([image_metrics(x, t)["PSNR"] for x, t in zip(mean_fill, truth)])
    return log, model, baseline


def test_centre_meta_beats_the_training_mean_image(tmp_path):
    log, meta, baseline = train_and_score(centre_spec(2), tmp_path)
    rates = [log[-1][f"rate_{k}"] for k in range(2)]
    print(f"meta {meta.mean():.2f} dB, mean-image fill {baseline.mean():.2f} dB, rates {rates}")
    assert min(rates) > 2 * 0.01, rates  # the per-step rates were learned
    assert meta.mean() > baseline.mean() + 0.5, (meta.mean(), baseline.mean())


def test_latent_only_film_beats_the_training_mean_image(tmp_path):
    spec = centre_spec(3, siren={"modulation": {"kind": "shift", "latent_dim": 32}}, inner={"adapt": "latent"})
    initial, _ = build_model(spec, torch.Generator().manual_seed(0))
    log, film, baseline = train_and_score(spec, tmp_path)
    _, net, rates = load_meta_model(tmp_path / "model.pt", CPU)
    assert isinstance(net, ModulatedSiren) and rates.adapted == (net.latent_index,)
    assert not torch.equal(net.mapping_weight, initial.mapping_weight)  # M is meta-learned
    rates_last = [log[-1][f"rate_{k}"] for k in range(3)]
    print(f"film {film.mean():.2f} dB, mean-image fill {baseline.mean():.2f} dB, rates {rates_last}")
    assert min(rates_last) > 2 * 0.01, rates_last  # the latent's rates were learned
    assert film.mean() > baseline.mean() + 0.5, (film.mean(), baseline.mean())
