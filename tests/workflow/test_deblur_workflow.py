"""End-to-end: Table 3's classical columns (DnCNN → tune → RED/HQS → reconstruct and score → table)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from .conftest import snakemake, workflow_copy

pytestmark = pytest.mark.slow

CLASSICAL = {"red_12": "RED(12)", "red_conv": "RED (convergence)", "hqs_12": "HQS(12)",
             "hqs_conv": "HQS (convergence)"}
NO_INNER_STEP = "Meta-RED (L2), no inner step: f(φ_θ) (not in the paper)"


def test_table3_classical_columns(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/table3.csv")
    ours = table[table.status == "ok"]
    meta = {"Meta-RED (L1)", "Meta-RED (L2)", "Meta-RED (LPIPS)", NO_INNER_STEP}
    assert set(CLASSICAL.values()) | {"Input (y)"} | meta == set(ours.label)
    assert set(table.label) - set(ours.label) == {"Meta-RED-FiLM (L2; not in the paper)"}  # off in quick
    assert ours["mean"].map(math.isfinite).all() and (ours.n == 8).all()
    # every row beats the input, in PSNR and in LPIPS (VGG16, as the paper); HQS needs the
    # trained DnCNN of tiny.yaml for that
    psnr = ours[ours.metric == "PSNR"].set_index("label")["mean"]
    assert (psnr.drop("Input (y)") > psnr["Input (y)"]).all(), psnr
    lpips = ours[ours.metric == "LPIPS_vgg"].set_index("label")["mean"]
    assert len(lpips) == len(meta) + 5 and ((lpips > 0) & (lpips < 1)).all()
    assert (lpips.drop("Input (y)") < lpips["Input (y)"]).all(), lpips
    # the paper's numbers alongside
    assert table[(table.label == "HQS (convergence)") & (table.metric == "PSNR")].paper.item() == 30.1
    den = tiny_run / "results/denoiser/dncnn"
    evaluation = json.loads((den / "eval.json").read_text())
    assert evaluation["steps"] == 400 and evaluation["noise_std"] == 0.05
    assert (den / "train_curve.png").stat().st_size > 1000
    for exp in CLASSICAL:
        folder = tiny_run / "results/deblur" / exp
        tuning = pd.read_csv(folder / "tuning.csv")
        assert tuning.chosen.sum() == 1
        chosen = json.loads((folder / "params.json").read_text())
        assert chosen["source"] == "tuning split (tail of the training split)" and chosen["images"] == 4
        assert chosen["psnr"] == pytest.approx(tuning[tuning.chosen].psnr_mean.item())
        with np.load(folder / "recon.npz") as f:
            assert f["recon"].shape == (8, 24, 24, 3) and np.isfinite(f["recon"]).all()


def test_meta_red_tables_share_measurements_and_store_finetuned_weights(tiny_run):
    t3 = pd.read_csv(tiny_run / "results/tables/table3.csv")
    t4 = pd.read_csv(tiny_run / "results/tables/table4.csv")
    ok4 = t4[t4.status == "ok"]
    assert set(ok4.label) == {"Input (y)", "Meta-RED (L1)", "Meta-RED (L2)", "Meta-RED (LPIPS)", "RED(12)", "HQS(12)"}
    assert ok4["mean"].map(math.isfinite).all()
    # every deblurring method sees the same noisy measurements (one evaluation seed per task)
    psnr_in = lambda t: t[(t.label == "Input (y)") & (t.metric == "PSNR")]["mean"].item()  # noqa: E731
    assert psnr_in(t3) == pytest.approx(psnr_in(t4), abs=1e-9)
    import torch

    tuned = json.loads((tiny_run / "results/deblur/red_12/params.json").read_text())["params"]
    fixed = torch.load(tiny_run / "results/deblur/meta_red_l2/model.pt", weights_only=False)
    finetuned = torch.load(tiny_run / "results/deblur/meta_red_ft_l2/model.pt", weights_only=False)
    # f's own λ_f (solver.params) replaces RED(12)'s; σ_f and relax are RED(12)'s
    assert fixed["denoiser"] is None and fixed["solver_params"] == {**tuned, "lam": 1000.0} != tuned
    pretrained = torch.load(tiny_run / "results/denoiser/dncnn/model.pt", weights_only=False)["state_dict"]
    changed = [k for k, v in finetuned["denoiser"].items() if v.is_floating_point() and not torch.equal(v, pretrained[k])]
    assert changed, "fine-tuning left every DnCNN weight unchanged"
    log = pd.read_csv(tiny_run / "results/deblur/meta_red_ft_l2/train_log.csv")
    assert log.step.tolist() == [1, 2, 3, 4] and log.tuning_psnr.notna().sum() == 2
    # unrolled RED(12)/HQS(12): the tuned parameters, the DnCNN fine-tuned from the pretrained one
    for exp, classical in (("red_12_unrolled", "red_12"), ("hqs_12_unrolled", "hqs_12")):
        blob = torch.load(tiny_run / "results/deblur" / exp / "model.pt", weights_only=False)
        tuned = json.loads((tiny_run / "results/deblur" / classical / "params.json").read_text())["params"]
        assert blob["method"] == "unrolled" and blob["hparams"]["params"] == tuned and blob["hparams"]["steps"] == 12
        tuned_net = {k.removeprefix("denoiser."): v for k, v in blob["state_dict"].items()}
        assert any(not torch.equal(tuned_net[k], v) for k, v in pretrained.items() if v.is_floating_point())


def test_paper_config_plans_the_deblur_stage(tmp_path):
    work = workflow_copy(tmp_path)
    proc = snakemake(work, "-n", "--cores", "1", "results/tables/table3.md")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for rule in ("train_denoiser", "tune_classical", "reconstruct", "table"):
        assert f"rule {rule}:" in out, rule
    assert "data/processed/celeba/64/train.npy" in out and "results/deblur/hqs_conv/recon.npz" in out


@pytest.mark.parametrize(
    "override, named",
    [
        ("experiments:\n  red_12:\n    classical: {params: {sigma_start: 0.1, lamda: 3}}\n", "lamda"),
        ("denoiser:\n  resolution: 48\n", "resolution"),  # the quick DnCNN tasks are at 32²
        ("experiments:\n  hqs_12:\n    classical: {tune: {grid: {relax: [1.5]}}}\n", "relax"),
    ],
)
def test_bad_deblur_config_is_rejected(tmp_path, override, named):
    work = workflow_copy(tmp_path)
    (work / "config" / "bad.yaml").write_text(override)
    proc = snakemake(work, "-n", "--cores", "1", "--configfile", "config/quick.yaml", "config/bad.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and named in out, out[-2000:]
