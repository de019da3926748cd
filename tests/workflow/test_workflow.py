"""End-to-end: the real Snakefile on the embedded data, the paper DAG, config validation."""

import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from metainv.data.sample import prepare_sample

from .conftest import REPO, env, snakemake, workflow_copy

pytestmark = pytest.mark.slow


def test_quick_workflow_end_to_end(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/table1.csv")
    ours = table[table.status == "ok"]
    assert set(ours.label) == {"Input (y)", "Meta-2", "Meta-3", "Meta-5", "Meta-7", "UNet",
                               "Meta-FiLM (not in the paper)"}
    assert ours["mean"].map(math.isfinite).all() and ours["std"].map(math.isfinite).all()
    assert (ours.n == 8).all()
    psnr = ours[ours.metric == "PSNR"].set_index("label")["mean"]
    for label in ("Meta-2", "Meta-3", "Meta-5", "Meta-7", "Meta-FiLM (not in the paper)"):
        assert psnr[label] > psnr["Input (y)"], psnr
    # paper numbers printed alongside; LPIPS (AlexNet, as the paper) computed per image
    assert table[(table.label == "Meta-5") & (table.metric == "PSNR")].paper.item() == 32.6
    lpips = ours[ours.metric == "LPIPS_alex"].set_index("label")["mean"]
    assert len(lpips) == 7 and ((lpips > 0) & (lpips < 1)).all()
    for label in ("Meta-2", "Meta-3", "Meta-5", "Meta-7", "Meta-FiLM (not in the paper)"):
        assert lpips[label] < lpips["Input (y)"], lpips
    md = (tiny_run / "results/tables/table1.md").read_text()
    assert "(paper 32.60)" in md and "(paper 0.0244)" in md and (table.status == "ok").all()
    for exp in ("meta_center_m2", "meta_center_m3", "meta_center_m5", "meta_center_m7"):
        folder = tiny_run / "results/inpaint_center" / exp
        assert (folder / "train_curve.png").stat().st_size > 1000
        log = pd.read_csv(folder / "train_log.csv")
        assert log.step.tolist() == list(range(1, 13)) and log.tuning_psnr.notna().sum() == 2
        # every learned inner rate is logged (per-step scheme: rate_k), and it moved
        rate_cols = [c for c in log.columns if c.startswith("rate_")]
        assert rate_cols == [f"rate_{k}" for k in range(len(rate_cols))] and rate_cols
        assert (log[rate_cols].iloc[-1] != 0.01).all()
    assert (tiny_run / "results/figures/figure1.png").stat().st_size > 1000
    table2 = pd.read_csv(tiny_run / "results/tables/table2.csv")
    ok2 = table2[table2.status == "ok"]
    assert set(ok2.label) == {f"{k} ({m})" for k in ("10", "500", "1000", "Half")
                              for m in ("Input", "Meta", "Meta + DC", "UNet", "Interp.")}
    assert ok2["mean"].map(math.isfinite).all() and (ok2.n == 8).all()
    psnr2 = ok2[ok2.metric == "PSNR"].set_index("label")["mean"]
    # each K's input row is that K's zero-filled measurement, the one Meta and Interp. were given
    for k, eid in (("10", "k10"), ("1000", "k1000")):
        inputs = pd.read_csv(tiny_run / f"results/inpaint_random/interp_random_{eid}/metrics.csv").input_PSNR
        assert psnr2[f"{k} (Input)"] == pytest.approx(inputs.mean())
    assert psnr2["10 (Input)"] < psnr2["500 (Input)"] < psnr2["1000 (Input)"], psnr2
    # Meta with the observed pixels kept and linear interpolation beat their input at every K
    # and get better with K. (The bare SIREN output, "Meta", does not at tiny sizes: 12 outer
    # steps leave it nearly the same image at every K, below the input at K = 1000.)
    for method in ("Meta + DC", "Interp."):
        for k in ("10", "500", "1000", "Half"):
            assert psnr2[f"{k} ({method})"] > psnr2[f"{k} (Input)"], psnr2
        assert psnr2[f"10 ({method})"] < psnr2[f"500 ({method})"] < psnr2[f"1000 ({method})"], psnr2
    # Meta + DC is Meta's image with exactly the observed pixels replaced by the measurement
    meta = np.load(tiny_run / "results/inpaint_random/meta_random_k500/recon.npz")
    dc = np.load(tiny_run / "results/inpaint_random/meta_random_dc_k500/recon.npz")
    mask = dc["mask"].transpose(0, 2, 3, 1)
    assert (dc["mask"] == meta["mask"]).all() and mask.any() and not mask.all()
    np.testing.assert_allclose(np.where(mask, dc["measurement"], meta["recon"]).astype(np.float32),
                               dc["recon"].astype(np.float32), atol=1e-3)
    # learned baselines: trained by the shared loop (log, curve), every table also as LaTeX
    for folder in ("inpaint_center/unet_center", "inpaint_random/unet_random"):
        log = pd.read_csv(tiny_run / "results" / folder / "train_log.csv")
        assert log.step.tolist() == [1, 2, 3, 4] and log.tuning_psnr.notna().sum() == 2
        assert (tiny_run / "results" / folder / "train_curve.png").stat().st_size > 1000
    for number in "1234":
        tex = (tiny_run / f"results/tables/table{number}.tex").read_text()
        assert r"\toprule" in tex and r"\bottomrule" in tex
    assert "UNet &" in (tiny_run / "results/tables/table1.tex").read_text()
    assert (tiny_run / "results/figures/figure2.png").stat().st_size > 1000
    # the capacity study places the rows the quick run trains (Meta-3, Meta-FiLM), paired against
    # Meta-3 and the UNet; its disabled points are left out
    capacity = pd.read_csv(tiny_run / "results/capacity/center.csv")
    points = capacity[capacity.role == "point"]
    assert set(points.label) == {"Meta-3 (SIREN)", "FiLM, z 256"} and set(points.reference) == {"Meta-3", "UNet"}
    assert set(points.metric) == {"PSNR", "LPIPS_alex"} and (points.n == 8).all()
    film = points[(points.label == "FiLM, z 256") & (points.metric == "PSNR") & (points.reference == "UNet")].iloc[0]
    assert film.adapted == 256 and film.family == "latent"
    assert film.mean_diff == pytest.approx(film["mean"] - psnr["UNet"]) and film.ci_low <= film.mean_diff <= film.ci_high
    assert (tiny_run / "results/capacity/center.png").stat().st_size > 1000
    assert not (tiny_run / "results/capacity/random.csv").exists()  # disabled in quick.yaml
    # nothing left to do
    proc = snakemake(tiny_run, "-n", "--cores", "1", "--configfile", "config/quick.yaml", "config/tiny.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_tiny_workflow_checks_the_claims(tiny_run):
    claims = pd.read_csv(tiny_run / "results/claims/claims.csv")
    assert set(claims.verdict) <= {"reproduced", "contradicted", "inconclusive", "not run"}
    run = claims[claims.verdict != "not run"]
    # every comparison has its statistics, except the claims on the Meta-FiLM rows of Tables
    # 2–3 and 5–7 and of MRI 8×, which the quick configuration turns off (a claim on an absent experiment reading
    # "not run" is tested in tests/test_claims.py)
    off = {"film_beats_siren_random_k500", "film_beats_siren_deblur", "film_beats_unet_random_k500",
           "film_dc_beats_unet_random_k500", "film_random_rises_with_k", "meta_red_film_vs_12_steps",
           "mri_8x_meta_vs_classical", "mri_8x_unet_vs_meta",  # and MRI 8×, and Tables 5–7's Meta-FiLM
           "mri_8x_meta_vs_tv", "mri_8x_hqs_vs_tv", "cs_film_vs_meta", "sr_film_vs_meta", "mri_film_vs_meta",
           "mri_8x_film_vs_meta"}
    assert set(claims.id) - set(run.id) == off and run.id.str.startswith("unet").any()
    assert (run.n == 8).all() and run[["mean_a", "mean_b", "mean_diff", "ci_low", "ci_high"]].notna().all().all()
    assert ((run.ci_low <= run.mean_diff) & (run.mean_diff <= run.ci_high)).all()
    assert {"more_inner_steps", "hqs_convergence_best_psnr", "lpips_loss_best_lpips", "finetune_l2"} <= set(run.id)
    for r in run.itertuples():  # the means are those of the experiments' metrics.csv
        a = pd.read_csv(next(tiny_run.glob(f"results/*/{r.a}/metrics.csv")))
        assert r.mean_a == pytest.approx(a[r.metric].mean())
    md = (tiny_run / "results/claims/claims.md").read_text()
    assert "bootstrap" in md


def test_paper_config_plans(tmp_path):
    work = workflow_copy(tmp_path)
    proc = snakemake(work, "-n", "--cores", "1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for rule in ("download_celeba", "prepare_celeba", "meta_train", "reconstruct", "table", "figure",
                 "train_unet", "train_unrolled", "tune_classical", "train_denoiser"):
        assert f"rule {rule}:" in out, rule
    assert "data/processed/celeba/128/train.npy" in out


@pytest.mark.parametrize(
    "override, named",
    [
        ("experiments:\n  meta_center_m2:\n    inner: {steps: 0}\n", "steps"),
        ("experiment_defaults:\n  outer: {lrr: 0.1}\n", "lrr"),
        ("data:\n  source: imagenet\n", "source"),
        ("tasks:\n  inpaint_center: {resolution: 4}\n", "resolution"),
        ("experiments:\n  meta_center_m2:\n    task: deblur_typo\n", "deblur_typo"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(tmp_path, override, named):
    work = workflow_copy(tmp_path)
    (work / "config" / "bad.yaml").write_text(override)
    proc = snakemake(work, "-n", "--cores", "1", "--configfile", "config/quick.yaml", "config/bad.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert named in out, out[-2000:]


def _spec(steps):
    """A spec written by hand: only what differs from the schema defaults (the CLI fills the
    rest through metainv.config, as the workflow does)."""
    return {
        "id": "resume", "tuning": 4,
        "task": {"name": "inpaint_center", "resolution": 16, "operator": {"kind": "inpaint_center", "noise_std": 0.0}},
        "siren": {"hidden": 48, "layers": 4},
        "inner": {"steps": 3, "loss_reduction": "sum"},
        "outer": {"lr": 1e-3, "inner_lr_lr": 1e-3, "batch_size": 3, "steps": steps,
                  "checkpoint_every": 5, "validate_every": 0, "tuning_images": 2},
        "eval": {"batch_size": 4},
    }


def _train(data, out, spec):
    import json

    return subprocess.Popen(
        [sys.executable, "-m", "metainv", "--threads", "1", "meta-train", "--spec", json.dumps(spec),
         "--data", str(data), "--model", str(out / "model.pt"), "--log", str(out / "log.csv"),
         "--curve", str(out / "curve.png"), "--device", "cpu", "--no-progress"],
        env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


#: outer steps of the killed training: it is killed at its first checkpoint (step 5), so the
#: rest is the margin that keeps it from finishing first
STEPS = 150


def test_kill_minus_nine_then_rerun_resumes_to_identical_weights(tmp_path):
    data = tmp_path / "data"
    prepare_sample(data, 16, n_val=4, crops_per_portrait=2)
    spec = _spec(steps=STEPS)
    ref = tmp_path / "ref"
    proc = _train(data, ref, spec)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()

    run = tmp_path / "run"
    proc = _train(data, run, spec)
    ckpt = run / "checkpoint.pt"
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "model.pt").exists(), "killed too late: training had already finished"
    killed_at = torch.load(ckpt, weights_only=False)["step"]
    assert 0 < killed_at < STEPS
    proc = _train(data, run, spec)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    a = torch.load(ref / "model.pt", weights_only=False)
    b = torch.load(run / "model.pt", weights_only=False)
    for key in ("siren", "rates"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), name
    log = pd.read_csv(run / "log.csv")
    assert log.step.tolist() == list(range(1, STEPS + 1))


def test_model_from_shares_one_trained_model(tmp_path):
    work = workflow_copy(tmp_path)
    proc = snakemake(work, "-n", "--cores", "1", "--configfile", "config/quick.yaml", "config/tiny.yaml",
                     "--", "results/tables/table2.csv")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert out.count("rule meta_train:") == 1 and "results/inpaint_random/meta_random/model.pt" in out
    # one reconstruct job per experiment: Meta and Meta + DC, the UNet and interpolation at four K each
    assert out.count("rule reconstruct:") == 16
    # one UNet for every K as well, trained on the same K distribution
    assert out.count("rule train_unet:") == 1 and "results/inpaint_random/unet_random/model.pt" in out
    (work / "config" / "bad.yaml").write_text(
        "experiments:\n  meta_random_k10: {task: inpaint_random, model_from: meta_random_k500}\n")
    proc = snakemake(work, "-n", "--cores", "1", "--configfile", "config/quick.yaml", "config/bad.yaml")
    assert proc.returncode != 0 and "model_from" in proc.stdout + proc.stderr


def test_every_job_that_asks_for_a_gpu_goes_to_the_gpu_partition(tmp_path, monkeypatch):
    """workflow/profiles/slurm: the partition follows the resources (gpu > 0), not rule names."""
    work = workflow_copy(tmp_path)
    monkeypatch.setenv("METAINV_SLURM_GPU_PARTITION", "gpuq")
    proc = snakemake(work, "-n", "--cores", "1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs = [block for block in out.split("\nrule ")[1:] if "resources:" in block]
    gpu_rules = set()
    for block in jobs:
        rule, resources = block.split(":", 1)[0], block.split("resources:", 1)[1].split("\n", 1)[0]
        asks_gpu = "gpu=1" in resources
        assert ("slurm_partition=gpuq" in resources) == asks_gpu, (rule, resources)
        if asks_gpu:
            gpu_rules.add(rule)
    assert gpu_rules == {"meta_train", "reconstruct", "train_denoiser", "tune_classical", "train_unet",
                         "train_unrolled", "step_curve"}
