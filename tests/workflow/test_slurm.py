"""The SLURM profile, run through a real one-node SLURM cluster started on 127.0.0.1.

The cluster (``slurm_cluster.py``) is started once per session from Debian packages and
stopped at the end; where the machine cannot run it (not root, no apt-get) every test here is
skipped with the reason. Each Snakemake run is bounded by ``timeout -k``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .slurm_cluster import LocalSlurmCluster, SlurmUnavailable

REPO = Path(__file__).resolve().parents[2]
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
    cluster: LocalSlurmCluster, workdir: Path, *args: str, timeout_s: int = 240, wait=True
):
    """Run Snakemake with the real SLURM profile against ``cluster`` (bounded by timeout -k)."""
    cmd = [
        "timeout", "-k", "10", str(timeout_s),
        sys.executable, "-m", "snakemake",
        "--profile", str(SLURM_PROFILE),
        "--directory", str(workdir),
        *TEST_CLUSTER_ARGS, *args,
    ]
    env = {
        **cluster.env,
        "METAINV_SLURM_ACCOUNT": TEST_ACCOUNT,
        "METAINV_SLURM_PARTITION": cluster.partition,
    }
    if not wait:
        return subprocess.Popen(
            cmd, cwd=workdir, env=env, text=True,
            stdout=open(workdir / "snakemake.out", "w"), stderr=subprocess.STDOUT,
        )
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}"
    return proc


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


TOY_SNAKEFILE = textwrap.dedent(
    """
    rule all:
        input: "summary.txt"

    rule train:
        output: "model.txt"
        resources: gpu=1, mem_mb=300, runtime=5, cpus_per_task=1
        shell: "echo gpus=$CUDA_VISIBLE_DEVICES job=$SLURM_JOB_ID > {output}"

    rule summarise:
        input: "model.txt"
        output: "summary.txt"
        shell: "cat {input} > {output}; echo job=$SLURM_JOB_ID gpus=${{CUDA_VISIBLE_DEVICES:-}} >> {output}"
    """
)


def test_profile_runs_two_jobs_through_slurm(slurm_cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    snakemake_on_cluster(slurm_cluster, tmp_path)
    train_line, summarise_line = (tmp_path / "summary.txt").read_text().splitlines()
    train = dict(kv.split("=", 1) for kv in train_line.split())
    summarise = dict(kv.split("=", 1) for kv in summarise_line.split())
    # two distinct SLURM jobs; the GPU rule got a GPU, the CPU rule none
    assert train["job"] and summarise["job"] and train["job"] != summarise["job"]
    assert train["gpus"] == "0"
    assert summarise["gpus"] == ""
    # what the plugin requested, as slurmctld recorded it: the rule's resources for the
    # GPU rule, the profile's defaults for the other, account and partition from the profile
    train_job = slurm_cluster.run("scontrol", "show", "job", train["job"]).stdout
    for expected in ("TresPerJob=gres:gpu:1", "MinMemoryNode=300M", "TimeLimit=00:05:00"):
        assert expected in train_job
    summarise_job = slurm_cluster.run("scontrol", "show", "job", summarise["job"]).stdout
    for expected in ("MinMemoryNode=4000M", "TimeLimit=01:00:00", "MinCPUsNode=2"):
        assert expected in summarise_job
    assert "TresPerJob" not in summarise_job
    for job in (train_job, summarise_job):
        assert f"Account={TEST_ACCOUNT}" in job and f"Partition={slurm_cluster.partition}" in job


RESUMABLE_TRAIN = textwrap.dedent(
    '''
    """A stand-in for a long training: one checkpoint per step, resumes from the last."""
    import json, os, sys, time
    model, steps = sys.argv[1], int(sys.argv[2])
    checkpoint = os.path.join(os.path.dirname(model) or ".", "checkpoint.json")
    state = {"step": 0, "attempt_starts": []}
    if os.path.exists(checkpoint):
        state = json.load(open(checkpoint))
    state["attempt_starts"].append(state["step"])
    while state["step"] < steps:
        time.sleep(0.4)
        state["step"] += 1
        with open(checkpoint + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(checkpoint + ".tmp", checkpoint)
    json.dump(state, open(model, "w"))
    '''
)


def test_cancelled_job_is_retried_and_resumes(slurm_cluster, tmp_path):
    steps = 25
    (tmp_path / "train.py").write_text(RESUMABLE_TRAIN)
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            f"""
            rule train:
                output: "model.json"
                resources: gpu=1, mem_mb=300, runtime=5
                shell: "{sys.executable} train.py {{output}} {steps}"
            """
        )
    )
    run = snakemake_on_cluster(slurm_cluster, tmp_path, wait=False)
    checkpoint = tmp_path / "checkpoint.json"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if checkpoint.exists() and json.loads(checkpoint.read_text())["step"] >= 3:
                break
            assert run.poll() is None, (tmp_path / "snakemake.out").read_text()
            time.sleep(0.2)
        else:
            pytest.fail("training never wrote its third checkpoint")
        running = slurm_cluster.run("squeue", "-h", "-t", "RUNNING", "-o", "%i").stdout.split()
        assert len(running) == 1, running
        assert slurm_cluster.run("scancel", running[0]).returncode == 0
        returncode = run.wait(timeout=200)
    finally:
        if run.poll() is None:
            run.kill()
    log = (tmp_path / "snakemake.out").read_text()
    assert returncode == 0, log[-6000:]
    state = json.loads((tmp_path / "model.json").read_text())
    first, second = state["attempt_starts"]
    assert first == 0
    assert 3 <= second < steps, "the retry started over instead of resuming"
    assert state["step"] == steps
    show = slurm_cluster.run("scontrol", "show", "job", running[0]).stdout
    assert "JobState=CANCELLED" in show
