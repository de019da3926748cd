"""On the quick (embedded sample) data, RED and HQS with a briefly trained DnCNN beat the
blurred input — and beat the same solvers with an identity "denoiser" (Tikhonov-like
deconvolution), so the learned prior is what helps."""

import pytest
import torch
from torch import nn

from metainv.config import normalise_denoiser_spec
from metainv.data.sample import prepare_sample
from metainv.data.store import load_split, to_tensor
from metainv.denoiser import load_denoiser
from metainv.metrics import psnr_torch
from metainv.physics import build_operator
from metainv.solvers import build_solver
from metainv.stages.train_denoiser import train_denoiser

pytestmark = pytest.mark.slow

BLUR = {"kind": "blur", "kernel_size": 11, "kernel_std": 1.5, "noise_std": 0.015}  # config.yaml


@pytest.fixture(scope="module")
def quick_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("quick_deblur")
    prepare_sample(root / "store", 64, n_val=20, seed=0, crops_per_portrait=20)
    spec = normalise_denoiser_spec({"depth": 5, "features": 24, "tuning": 16, "tuning_images": 16, "batch_size": 16,
                                    "patch_size": 32, "steps": 200, "checkpoint_every": 100, "validate_every": 0})
    evaluation = train_denoiser(spec, root / "store", root / "dncnn/model.pt", root / "dncnn/log.csv",
                                root / "dncnn/eval.json", torch.device("cpu"), progress=False)
    x = to_tensor(load_split(root / "store", "val"))
    op = build_operator(BLUR, len(x), 64, 64)
    y = op.measure(x, torch.Generator().manual_seed(1000))
    return x, y, op, load_denoiser(root / "dncnn/model.pt"), evaluation


def test_briefly_trained_dncnn_denoises(quick_setup):
    *_, evaluation = quick_setup
    assert evaluation["denoised_psnr"] > evaluation["noisy_psnr"] + 3


@pytest.mark.parametrize("method, params", [
    ("red", {"lam": 300, "sigma_f": 0.05}),
    ("hqs", {"lam": 0.23, "sigma_start": 0.19, "sigma_end": 0.025}),
])
def test_solvers_beat_the_blurred_input_and_the_identity_prior(quick_setup, method, params):
    x, y, op, dncnn, _ = quick_setup
    with torch.no_grad():
        ours = psnr_torch(build_solver({"kind": method, "steps": 12, "params": params}, denoiser=dncnn)(None, y, op),
                          x).mean()
        identity = psnr_torch(build_solver({"kind": method, "steps": 12, "params": params},
                                           denoiser=_Identity())(None, y, op), x).mean()
    blurred = psnr_torch(y, x).mean()
    assert ours > blurred + 1.0, (float(ours), float(blurred))
    assert ours > identity, (float(ours), float(identity))


class _Identity(nn.Module):
    """Identity with the DnCNN's recorded level, so the level scaling is exercised too."""

    noise_level = torch.tensor(0.05)

    def forward(self, x):
        return x
