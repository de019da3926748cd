"""End-to-end: the real Snakefile on the embedded data, the paper DAG, config validation."""

import math
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from metainv.data.sample import prepare_sample

from .conftest import REPO, env, snakemake, workflow_copy

pytestmark = pytest.mark.slow


def test_quick_workflow_end_to_end(tiny_run):
    table = pd.read_csv(tiny_run / "results/tables/table1.csv")
    ours = table[table.status == "ok"]
    assert set(ours.label) == {"Input (y)", "Meta-2", "Meta-3", "Meta-5", "Meta-7"}
    assert ours["mean"].map(math.isfinite).all() and ours["std"].map(math.isfinite).all()
    assert (ours.n == 8).all()
    psnr = ours[ours.metric == "PSNR"].set_index("label")["mean"]
    for label in ("Meta-2", "Meta-3", "Meta-5", "Meta-7"):
        assert psnr[label] > psnr["Input (y)"], psnr
    # paper numbers printed alongside, LPIPS marked unavailable (never substituted)
    assert table[(table.label == "Meta-5") & (table.metric == "PSNR")].paper.item() == 32.6
    assert (table[table.metric == "LPIPS_alex"].status == "unavailable").all()
    md = (tiny_run / "results/tables/table1.md").read_text()
    assert "(paper 32.60)" in md and "unavailable" in md
    for exp in ("meta_center_m2", "meta_center_m3", "meta_center_m5", "meta_center_m7"):
        folder = tiny_run / "results/inpaint_center" / exp
        assert (folder / "train_curve.png").stat().st_size > 1000
        log = pd.read_csv(folder / "train_log.csv")
        assert log.step.tolist() == list(range(1, 13)) and log.val_psnr.notna().sum() == 2
        # every learned inner rate is logged (per-step scheme: rate_k), and it moved
        rate_cols = [c for c in log.columns if c.startswith("rate_")]
        assert rate_cols == [f"rate_{k}" for k in range(len(rate_cols))] and rate_cols
        assert (log[rate_cols].iloc[-1] != 0.01).all()
    assert (tiny_run / "results/figures/figure1.png").stat().st_size > 1000
    table2 = pd.read_csv(tiny_run / "results/tables/table2.csv")
    ok2 = table2[table2.status == "ok"]
    assert set(ok2.label) == {"Input (y)", "10 (Meta)", "500 (Meta)", "1000 (Meta)", "Half (Meta)"}
    assert ok2["mean"].map(math.isfinite).all() and (ok2.n == 8).all()
    assert (tiny_run / "results/figures/figure2.png").stat().st_size > 1000
    # nothing left to do
    proc = snakemake(tiny_run, "-n", "--cores", "1", "--configfile", "config/quick.yaml", "config/tiny.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_paper_config_plans(tmp_path):
    work = workflow_copy(tmp_path)
    proc = snakemake(work, "-n", "--cores", "1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for rule in ("download_celeba", "prepare_celeba", "meta_train", "reconstruct_meta", "evaluate", "table", "figure"):
        assert rule in out
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
    return {
        "id": "resume", "seed": 0, "tf32": False, "method": "meta", "enabled": True,
        "task": {"name": "inpaint_center", "resolution": 16, "operator": {"kind": "inpaint_center", "noise_std": 0.0}},
        "siren": {"hidden": 48, "layers": 4, "omega0": 30.0},
        "solver": {"kind": "gd", "steps": 1, "step_size": 0.9, "eval_step_size": 1.0},
        "inner": {"steps": 3, "lr_scheme": "per_step", "lr_init": 0.01, "order": "second", "loss_reduction": "sum"},
        "outer": {"loss": "l2", "lr": 1e-3, "inner_lr_lr": 1e-3, "batch_size": 3, "steps": steps,
                  "checkpoint_every": 5, "validate_every": 0, "val_images": 2, "grad_clip": None},
        "eval": {"batch_size": 4, "observed": None},
    }


def _train(data, out, spec):
    import json

    return subprocess.Popen(
        [sys.executable, "-m", "metainv", "--threads", "1", "meta-train", "--spec", json.dumps(spec),
         "--data", str(data), "--model", str(out / "model.pt"), "--log", str(out / "log.csv"),
         "--curve", str(out / "curve.png"), "--device", "cpu", "--no-progress"],
        env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_kill_minus_nine_then_rerun_resumes_to_identical_weights(tmp_path):
    data = tmp_path / "data"
    prepare_sample(data, 16, n_val=4, crops_per_portrait=2)
    spec = _spec(steps=400)
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
    assert 0 < killed_at < 400
    proc = _train(data, run, spec)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    a = torch.load(ref / "model.pt", weights_only=False)
    b = torch.load(run / "model.pt", weights_only=False)
    for key in ("siren", "rates"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), name
    log = pd.read_csv(run / "log.csv")
    assert log.step.tolist() == list(range(1, 401))


def test_model_from_shares_one_trained_model(tmp_path):
    work = workflow_copy(tmp_path)
    proc = snakemake(work, "-n", "--cores", "1", "--configfile", "config/quick.yaml", "config/tiny.yaml",
                     "--", "results/tables/table2.csv")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert out.count("rule meta_train:") == 1 and "results/inpaint_random/meta_random/model.pt" in out
    assert out.count("rule reconstruct_meta:") == 4
    (work / "config" / "bad.yaml").write_text(
        "experiments:\n  meta_random_k10: {task: inpaint_random, model_from: meta_random_k500}\n")
    proc = snakemake(work, "-n", "--cores", "1", "--configfile", "config/quick.yaml", "config/bad.yaml")
    assert proc.returncode != 0 and "model_from" in proc.stdout + proc.stderr
