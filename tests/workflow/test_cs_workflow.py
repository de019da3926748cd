"""End-to-end: the compressed-sensing table (a task built from deepinv physics) through the same
rules — data → DnCNN → HQS and TV searches → Meta and UNet training → reconstruct and score →
table — in the session's tiny run (tests/workflow/tiny.yaml trains its DnCNN and UNet long enough
to beat the input)."""

import math

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

METHODS = {"tv_cs": "TV (ADMM, 30 steps)", "hqs_cs": "HQS(4)", "meta_cs": "Meta-3", "unet_cs": "UNet"}


def test_every_method_beats_its_input(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/table5.csv")
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
        with np.load(tiny_run / "results/compressed_sensing" / exp / "recon.npz") as f:
            assert f["recon"].shape == f["measurement"].shape == (8, 24, 24, 3) and "mask" not in f
            inputs.append(f["measurement"])
    assert all(np.array_equal(inputs[0], other) for other in inputs[1:])
