"""End-to-end: the super-resolution (Table 6) and MRI (Table 7) tables, two more tasks built from
deepinv physics, through the same rules — data → DnCNN → HQS and TV searches → Meta and UNet
training → reconstruct and score → table — and every method beating its Input row, in the
session's tiny run (tests/workflow/tiny.yaml: quick's DnCNN, Meta and the UNet trained 100 steps,
super-resolution ×2)."""

import math

import numpy as np
import pandas as pd
import pytest

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


@pytest.mark.parametrize("number", list(TABLES))
def test_every_method_beats_its_input(tiny_run, number):
    spec = TABLES[number]
    table = pd.read_csv(tiny_run / f"results/tables/table{number}.csv")
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
        with np.load(tiny_run / "results" / spec["task"] / exp / "recon.npz") as f:
            assert f["recon"].shape == f["measurement"].shape == (8, 24, 24, 3) and "mask" not in f
            inputs.append(f["measurement"])
    assert all(np.array_equal(inputs[0], other) for other in inputs[1:])
