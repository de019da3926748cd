"""End-to-end: the compressed-sensing table (a task built from deepinv physics) through the same
rules — data → DnCNN → HQS and TV searches → Meta and UNet training → reconstruct and score →
table."""

import math

import numpy as np
import pandas as pd
import pytest

from .conftest import snakemake, workflow_copy

pytestmark = pytest.mark.slow

METHODS = {"tv_cs": "TV (ADMM, 30 steps)", "hqs_cs": "HQS(4)", "meta_cs": "Meta-3", "unet_cs": "UNet"}


#: Over tiny.yaml: the DnCNN and the UNet trained long enough to be better than nothing (tiny's
#: 20-step DnCNN is nearly the identity, +0.2 dB, and cannot fill the null space of A; 400 steps
#: as in quick.yaml take about a second at 24²).
TRAINED = """
denoiser: {steps: 400, checkpoint_every: 100, validate_every: 100}
experiments:
  unet_cs: {train: {steps: 150, checkpoint_every: 50, validate_every: 50}}
"""


@pytest.fixture(scope="module")
def cs_run(tmp_path_factory):
    """Only table 5 of the quick workflow with the tiny overrides (its own jobs, nothing else)."""
    work = workflow_copy(tmp_path_factory.mktemp("cs"))
    (work / "config" / "cs.yaml").write_text(TRAINED)
    proc = snakemake(work, "results/tables/table5.csv", "--cores", "2", "--configfile", "config/quick.yaml",
                     "config/tiny.yaml", "config/cs.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return work


def test_every_method_beats_its_input(cs_run):
    table = pd.read_csv(cs_run / "results/tables/table5.csv")
    # Meta-FiLM: in the table and the config, not run by the quick configuration
    not_run = table[table.status != "ok"]
    assert set(not_run.label) == {"Meta-FiLM"} and (not_run.status == "not run").all()
    table = table[table.status == "ok"]
    assert (table.n == 8).all()
    assert set(table.label) == {"Input (y)", *METHODS.values()} and table.paper.isna().all()
    psnr = table[table.metric == "PSNR"].set_index("label")["mean"]
    assert psnr.map(math.isfinite).all()
    for label in METHODS.values():
        assert psnr[label] > psnr["Input (y)"], psnr.to_dict()
    # every method reconstructs the same measurement: one Input row, A⁺y stored as an image
    inputs = []
    for exp in METHODS:
        with np.load(cs_run / "results/compressed_sensing" / exp / "recon.npz") as f:
            assert f["recon"].shape == f["measurement"].shape == (8, 24, 24, 3) and "mask" not in f
            inputs.append(f["measurement"])
    assert all(np.array_equal(inputs[0], other) for other in inputs[1:])
