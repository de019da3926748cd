"""The SLURM profile, run through a real one-node SLURM cluster started on 127.0.0.1.

The cluster (``slurm_cluster.py``) is started once per session from Debian packages and
stopped at the end; where the machine cannot run it (not root, no apt-get) every test here is
skipped with the reason. Each Snakemake run is bounded by ``timeout -k``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import REPO, snakemake, workflow_copy
from . import slurm_cluster as harness
from .slurm_cluster import LocalSlurmCluster, SlurmUnavailable

SLURM_PROFILE = REPO / "workflow" / "profiles" / "slurm"
TEST_ACCOUNT = "metainv-test"

# What the test cluster needs on top of the real profile: no slurmdbd, so job states come
# from squeue (reliable: MinJobAge=300), and fast polling instead of the plugin's 40 s.
TEST_CLUSTER_ARGS = [
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "1",
    "--seconds-between-status-checks", "1",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def slurm_cluster():
    try:
        cluster = LocalSlurmCluster.start()
    except SlurmUnavailable as reason:
        pytest.skip(f"no SLURM test cluster on this machine: {reason}")
    try:
        yield cluster
    finally:
        cluster.stop()


def snakemake_on_cluster(
    cluster: LocalSlurmCluster, workdir: Path, *args: str, timeout_s: int = 300
) -> subprocess.Popen:
    """Start Snakemake with the real SLURM profile against ``cluster`` (bounded by timeout -k);
    its output goes to ``workdir/snakemake.out``."""
    cmd = [
        "timeout", "-k", "10", str(timeout_s),
        sys.executable, "-m", "snakemake",
        "--profile", str(SLURM_PROFILE),
        *TEST_CLUSTER_ARGS, *args,
    ]
    env = {
        **cluster.env,
        # the jobs call `metainv` (and Snakemake) from this environment
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{cluster.env['PATH']}",
        "METAINV_SLURM_ACCOUNT": TEST_ACCOUNT,
        "METAINV_SLURM_PARTITION": cluster.partition,
    }
    with open(workdir / "snakemake.out", "w") as out:
        return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.parametrize(
    "euid, apt_get, reason",
    [(1000, "/usr/bin/apt-get", "needs root"), (0, None, "no apt-get")],
)
def test_machine_that_cannot_install_slurm_skips_with_reason(monkeypatch, euid, apt_get, reason):
    """Not root, or no apt-get, and SLURM missing: a skip that says why, never a failure."""
    monkeypatch.setattr(harness, "REQUIRED_BINARIES", ("/nonexistent/slurmctld",))
    monkeypatch.setattr(harness.sys, "platform", "linux")
    monkeypatch.setattr(harness.os, "geteuid", lambda: euid)
    monkeypatch.setattr(harness.shutil, "which", lambda name: apt_get)
    with pytest.raises(SlurmUnavailable, match=reason):
        harness.ensure_slurm_installed()


def test_cluster_schedules_a_gpu_request(slurm_cluster):
    """The node offers one GPU GRES, so `--gpus=1` (the plugin's form of gpu=1) is granted."""
    proc = slurm_cluster.run(
        "srun", "--gpus=1", "--mem=100", "-t", "1", "-A", TEST_ACCOUNT,
        "sh", "-c", "echo $SLURM_JOB_ID $CUDA_VISIBLE_DEVICES", timeout_s=60,
    )
    assert proc.returncode == 0, proc.stderr
    job_id, visible_gpus = proc.stdout.split()
    assert visible_gpus == "0"
    show = slurm_cluster.run("scontrol", "show", "job", job_id).stdout
    assert "TresPerJob=gres:gpu:1" in show
    assert f"Account={TEST_ACCOUNT}" in show



TRAIN_STEPS = 200
CHECKPOINT_EVERY = 10
EXP = "meta_center_m2"
EXP_DIR = f"results/inpaint_center/{EXP}"
# The tiny test config with one experiment (every other one disabled) trained long enough to
# be cancelled mid-way: SLURM runs prepare_sample, meta_train and reconstruct (which scores);
# table and figure are localrules. The GPU requests are the configs' own (gpu=1).
def cluster_config() -> str:
    experiments = set()
    for name in ("config.yaml", "quick.yaml"):
        experiments |= set((yaml.safe_load((REPO / "config" / name).read_text())
                            .get("experiments") or {}))
    return yaml.safe_dump({
        "experiments": {e: {"enabled": False} for e in sorted(experiments - {EXP})},
        "experiment_defaults": {"outer": {
            "steps": TRAIN_STEPS, "checkpoint_every": CHECKPOINT_EVERY,
            "validate_every": TRAIN_STEPS,
        }},
    })


CONFIGS = ("--configfile", "config/quick.yaml", "config/tiny.yaml", "config/cluster.yaml")


def slurm_jobs(cluster: LocalSlurmCluster) -> list[dict[str, str]]:
    """The Snakemake jobs slurmctld remembers (MinJobAge=300), as ``scontrol show job``
    fields; the plugin comments each with ``rule_<rule>[_wildcards_<wildcards>]``."""
    ids = cluster.run("squeue", "-h", "-t", "all", "-o", "%i").stdout.split()
    jobs = []
    for job_id in ids:
        text = cluster.run("scontrol", "show", "job", job_id).stdout
        fields = dict(re.findall(r"(\w+)=(\S*)", text))
        if fields.get("Comment", "").startswith("rule_"):
            jobs.append(fields)
    return jobs


@pytest.fixture(scope="module")
def cluster_run(slurm_cluster, tmp_path_factory):
    """The reduced quick workflow through SLURM with the real profile; its training job is
    scancel'led once it has written a checkpoint. Returns (workdir, cancelled job id, jobs)."""
    work = workflow_copy(tmp_path_factory.mktemp("slurm"))
    (work / "config" / "cluster.yaml").write_text(cluster_config())
    checkpoint = work / EXP_DIR / "checkpoint.pt"
    run = snakemake_on_cluster(slurm_cluster, work, *CONFIGS)
    log = work / "snakemake.out"
    try:
        deadline = time.monotonic() + 180
        while not checkpoint.exists():
            assert run.poll() is None, f"snakemake ended early:\n{log.read_text()[-5000:]}"
            assert time.monotonic() < deadline, "training never wrote a checkpoint"
            time.sleep(0.2)
        running = slurm_cluster.run("squeue", "-h", "-t", "RUNNING", "-o", "%i %k").stdout
        training = [line.split()[0] for line in running.splitlines() if "meta_train" in line]
        assert len(training) == 1, running
        assert slurm_cluster.run("scancel", training[0]).returncode == 0
        returncode = run.wait(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert returncode == 0, log.read_text()[-8000:]
    return work, training[0], slurm_jobs(slurm_cluster)


def test_quick_workflow_runs_on_slurm_with_the_profile(cluster_run):
    work, _, jobs = cluster_run
    table = pd.read_csv(work / "results/tables/table1.csv")
    ours = table[table.status == "ok"]
    assert set(ours.label) == {"Input (y)", "Meta-2"}
    assert (ours.n == 8).all()
    psnr = ours[ours.metric == "PSNR"].set_index("label")["mean"]
    assert psnr["Meta-2"] > psnr["Input (y)"]
    assert (work / "results/figures/figure1.png").stat().st_size > 1000
    for name in ("model.pt", "recon.npz", "metrics.csv", "train_curve.png"):
        assert (work / EXP_DIR / name).stat().st_size > 0

    # one SLURM job per rule instance (table and figure ran locally), each with what the
    # config and the profile ask for, as slurmctld recorded it
    by_rule = {}
    for job in jobs:
        rule = re.match(r"rule_([a-z_]+?)(_wildcards_|$)", job["Comment"]).group(1)
        by_rule.setdefault(rule, []).append(job)
    assert sorted(by_rule) == ["meta_train", "prepare_sample", "reconstruct"]
    assert [len(by_rule[r]) for r in ("prepare_sample", "reconstruct")] == [1, 1]
    for job in jobs:
        assert job["Account"] == TEST_ACCOUNT and job["Partition"] == "debug"
    for job in by_rule["meta_train"]:  # config/quick.yaml resources, GPU from config.yaml
        assert (job["TresPerJob"], job["MinMemoryNode"], job["TimeLimit"]) == (
            "gres:gpu:1", "4000M", "00:30:00")
    (recon,) = by_rule["reconstruct"]
    assert (recon["TresPerJob"], recon["MinMemoryNode"], recon["TimeLimit"]) == (
        "gres:gpu:1", "4000M", "00:15:00")
    for job in by_rule["prepare_sample"]:  # the profile's defaults
        assert "TresPerJob" not in job
        assert (job["MinMemoryNode"], job["TimeLimit"]) == ("4000M", "01:00:00")

    proc = snakemake(work, "-n", "--cores", "1", *CONFIGS)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_cancelled_training_is_retried_and_resumes_from_checkpoint(cluster_run):
    work, cancelled, jobs = cluster_run
    training = {job["JobId"]: job["JobState"] for job in jobs if "meta_train" in job["Comment"]}
    assert training.pop(cancelled) == "CANCELLED"
    assert list(training.values()) == ["COMPLETED"]  # the retry, a new SLURM job
    # the retry resumed: the Trainer logs where it picked up, and the training log has
    # every step exactly once
    rule_log = (work / f"logs/meta_train/inpaint_center/{EXP}.log").read_text()
    resumed = re.search(r"resumed \S+checkpoint\.pt from step (\d+)", rule_log)
    assert resumed, rule_log[-3000:]
    assert CHECKPOINT_EVERY <= int(resumed.group(1)) < TRAIN_STEPS
    steps = pd.read_csv(work / EXP_DIR / "train_log.csv").step.tolist()
    assert steps == list(range(1, TRAIN_STEPS + 1))
