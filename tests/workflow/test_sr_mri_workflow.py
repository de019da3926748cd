"""End-to-end: the super-resolution (Table 6) and MRI (Table 7) tables, two more tasks built from
deepinv physics, through the same rules — data → DnCNN → HQS and TV searches → Meta and UNet
training → reconstruct and score → table — and every method beating its Input row."""

import math

import numpy as np
import pandas as pd
import pytest

from .conftest import snakemake, workflow_copy

pytestmark = pytest.mark.slow

TABLES = {
    "6": {"task": "super_resolution", "input": "Input (y)",
          "methods": {"tv_sr": "TV (ADMM, 30 steps)", "hqs_sr": "HQS(4)", "meta_sr": "Meta-3", "unet_sr": "UNet"},
          "not_run": {"Meta-FiLM"}},
    "7": {"task": "mri", "input": "4× (Input: zero-filled IFFT)",
          "methods": {"tv_mri": "4× (TV (ADMM, 30 steps))", "hqs_mri": "4× (HQS(4))", "meta_mri": "4× (Meta-3)",
                      "unet_mri": "4× (UNet)"},
          # MRI 8× (every row) and the Meta-FiLM rows: in the table and the config, not run by the
          # quick configuration
          "not_run": {"4× (Meta-FiLM)", *(f"8× ({m})" for m in ("Input: zero-filled IFFT", "TV (ADMM, 30 steps)",
                                                               "HQS(4)", "Meta-3", "Meta-FiLM", "UNet"))}},
}

#: Over tiny.yaml: the quick DnCNN's size (tiny's 3 × 8 hardly denoises: HQS then stays within
#: 0.05 dB of A⁺y) and Meta and the UNet trained 100 steps. Super-resolution is ×2 here: at 24²
#: a ×4 measurement is 6 × 6 pixels, from which no method gets far past A⁺y; Meta's gd steps and
#: first rate scale with 1/‖AᵀA‖ = 4 as config.yaml's ×4 ones do with 16.
TRAINED = """
denoiser: {depth: 6, features: 32, batch_size: 16, steps: 400, checkpoint_every: 100, validate_every: 100}
tasks:
  super_resolution: {operator: {factor: 2}}
experiments:
  meta_sr: {solver: {step_size: 3.6, eval_step_size: 4.0}, inner: {lr_init: 0.04},
            outer: {steps: 100, checkpoint_every: 50, validate_every: 50}}
  hqs_sr: {classical: {tune: {grid: {sigma_start: [0.1], sigma_end: [0.02]}}}}
  unet_sr: {train: {steps: 100, checkpoint_every: 50, validate_every: 50}}
  meta_mri: {outer: {steps: 100, checkpoint_every: 50, validate_every: 50}}
  unet_mri: {train: {steps: 100, checkpoint_every: 50, validate_every: 50}}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Only tables 6 and 7 of the quick workflow with the tiny overrides (their own jobs)."""
    work = workflow_copy(tmp_path_factory.mktemp("sr_mri"))
    (work / "config" / "trained.yaml").write_text(TRAINED)
    proc = snakemake(work, "results/tables/table6.csv", "results/tables/table7.csv", "--cores", "2",
                     "--configfile", "config/quick.yaml", "config/tiny.yaml", "config/trained.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return work


@pytest.mark.parametrize("number", list(TABLES))
def test_every_method_beats_its_input(run, number):
    spec = TABLES[number]
    table = pd.read_csv(run / f"results/tables/table{number}.csv")
    ran = table[table.status == "ok"]
    assert set(ran.label) == {spec["input"], *spec["methods"].values()} and (ran.n == 8).all()
    assert table.paper.isna().all()
    not_run = table[table.status != "ok"]
    assert (not_run.status == "not run").all() and set(not_run.label) == spec["not_run"]
    assert len(not_run) == 3 * len(spec["not_run"])  # PSNR, SSIM, MSE
    psnr = ran[ran.metric == "PSNR"].set_index("label")["mean"]
    assert psnr.map(math.isfinite).all()
    for label in spec["methods"].values():
        assert psnr[label] > psnr[spec["input"]], psnr.to_dict()
    # every method reconstructs the same measurement, stored as its input image (A⁺y, or the
    # zero-filled inverse FFT): one Input row
    inputs = []
    for exp in spec["methods"]:
        with np.load(run / "results" / spec["task"] / exp / "recon.npz") as f:
            assert f["recon"].shape == f["measurement"].shape == (8, 24, 24, 3) and "mask" not in f
            inputs.append(f["measurement"])
    assert all(np.array_equal(inputs[0], other) for other in inputs[1:])
