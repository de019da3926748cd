"""End-to-end: Table 3's classical columns (DnCNN → tune → RED/HQS → evaluate → table)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from .conftest import snakemake, workflow_copy

pytestmark = pytest.mark.slow

CLASSICAL = {"red_12": "RED(12)", "red_conv": "RED (convergence)", "hqs_12": "HQS(12)",
             "hqs_conv": "HQS (convergence)"}


def test_table3_classical_columns(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/table3.csv")
    ours = table[table.status == "ok"]
    assert set(CLASSICAL.values()) | {"Input (y)"} == set(ours.label)
    assert ours["mean"].map(math.isfinite).all() and (ours.n == 8).all()
    # the paper's numbers alongside, LPIPS marked unavailable, never filled in
    assert table[(table.label == "HQS (convergence)") & (table.metric == "PSNR")].paper.item() == 30.1
    assert (table[table.metric == "LPIPS_vgg"].status == "unavailable").all()
    den = tiny_run / "results/denoiser/dncnn"
    evaluation = json.loads((den / "eval.json").read_text())
    assert evaluation["steps"] == 20 and evaluation["noise_std"] == 0.05
    assert (den / "train_curve.png").stat().st_size > 1000
    for exp in CLASSICAL:
        folder = tiny_run / "results/deblur" / exp
        tuning = pd.read_csv(folder / "tuning.csv")
        assert tuning.chosen.sum() == 1
        chosen = json.loads((folder / "params.json").read_text())
        assert chosen["source"] == "held-out training images" and chosen["images"] == 4
        assert chosen["psnr"] == pytest.approx(tuning[tuning.chosen].psnr_mean.item())
        with np.load(folder / "recon.npz") as f:
            assert f["recon"].shape == (8, 24, 24, 3) and np.isfinite(f["recon"]).all()


def test_paper_config_plans_the_deblur_stage(tmp_path):
    work = workflow_copy(tmp_path)
    proc = snakemake(work, "-n", "--cores", "1", "results/tables/table3.md")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for rule in ("train_denoiser", "tune_classical", "solve_classical", "evaluate", "table"):
        assert rule in out
    assert "data/processed/celeba/64/train.npy" in out and "results/deblur/hqs_conv/recon.npz" in out


@pytest.mark.parametrize(
    "override, named",
    [
        ("experiments:\n  red_12:\n    classical: {params: {sigma_start: 0.1, lamda: 3}}\n", "lamda"),
        ("denoiser:\n  resolution: 32\n", "resolution"),
        ("experiments:\n  hqs_12:\n    classical: {tune: {grid: {relax: [1.5]}}}\n", "relax"),
    ],
)
def test_bad_deblur_config_is_rejected(tmp_path, override, named):
    work = workflow_copy(tmp_path)
    (work / "config" / "bad.yaml").write_text(override)
    proc = snakemake(work, "-n", "--cores", "1", "--configfile", "config/quick.yaml", "config/bad.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and named in out, out[-2000:]
