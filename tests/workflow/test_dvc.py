"""Sharing with DVC: push a run, clone, pull, and Snakemake trusts what it pulled.

The outputs of the session's tiny run (``tiny_run``) are placed in a git + DVC project laid
out like this repository, pushed with ``tools/artifacts.py push`` to a temporary
local remote, and pulled into fresh clones with ``artifacts.py pull`` (``dvc pull`` +
``snakemake --touch``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from metainv.config import capacity_ids, claim_experiments, load_config, resolve

from .conftest import REPO, TINY, env, snakemake, workflow_copy

pytestmark = pytest.mark.slow

CONFIG = ("--configfile", "config/quick.yaml", "config/tiny.yaml")
PROJECT_FILES = (
    ".gitignore", ".dvcignore", ".dvc/config", ".dvc/.gitignore",
    "data/README.md", "results/README.md",
)
EXPERIMENTS = [f"meta_center_m{m}" for m in (2, 3, 5, 7)]
TASK_DIR = "results/inpaint_center"


def run(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def git(cwd: Path, *args: str) -> str:
    return run(cwd, "git", "-c", "user.name=test", "-c", "user.email=test@example.org",
               *args).stdout


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(cwd, sys.executable, "-m", "dvc", *args, check=check)


def artifacts(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(cwd, sys.executable, "tools/artifacts.py", *args, check=check)


def use_remote(clone: Path, remote: Path) -> None:
    """Point the project's default remote at ``remote`` for this clone only (config.local)."""
    dvc(clone, "remote", "modify", "--local", "local", "url", str(remote))


def versioned_files(root: Path) -> dict[str, str]:
    """sha256 of every file under data/ and results/ that DVC versions (not the READMEs,
    pointers or checkpoints)."""
    out = {}
    for top in ("data", "results"):
        for path in (root / top).rglob("*"):
            if path.is_file() and path.suffix != ".dvc" and path.name != "README.md" \
                    and path.name != "checkpoint.pt":
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def planned_jobs(workdir: Path) -> set[tuple[str, str]]:
    """The jobs ``snakemake -n`` would run, as (rule, experiment id or table/figure number)."""
    proc = snakemake(workdir, "-n", "--cores", "1", *CONFIG)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    if "Nothing to be done" in out:
        return set()
    jobs = set()
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n?)*)", out, re.M):
        wildcards = dict(re.findall(r"(\w+)=([^,\s]+)", (re.findall(r"wildcards: (.*)", body)
                                                         or [""])[0]))
        jobs.add((rule, wildcards.get("exp", wildcards.get("number", ""))))
    assert jobs, out[-3000:]
    return jobs


def dependants_of_training(*exps: str) -> set[tuple[str, str]]:
    """A retraining of ``exps`` and everything downstream of it, nothing else."""
    per_exp = {(rule, e) for e in exps for rule in ("meta_train", "reconstruct")}
    resolved = resolve(load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml", TINY))
    claimed = set(claim_experiments(resolved))
    claims = {("claims", "")} if claimed & set(exps) else set()
    curves = {("step_curve", "") for curve in resolved.config["step_curves"].values()
              if curve["enabled"] and set(curve["experiments"].values()) & set(exps)}
    studies = {("capacity", "") for name in resolved.config["capacity_studies"]
               if set(capacity_ids(resolved, name)) & set(exps)}
    return per_exp | claims | curves | studies | {("table", "1"), ("figure", "1"), ("all", "")}


@pytest.fixture(scope="module")
def pushed(tiny_run, tmp_path_factory):
    """A git + DVC project holding the tiny run, pushed to a temporary local remote."""
    base = tmp_path_factory.mktemp("dvc")
    origin, remote = workflow_copy(base / "origin"), base / "remote"
    for name in PROJECT_FILES:
        (origin / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, origin / name)
    git(origin, "init", "-q")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "workflow")
    use_remote(origin, remote)
    for top in ("data", "results"):  # the run's outputs, modification times kept
        shutil.copytree(tiny_run / top, origin / top, dirs_exist_ok=True)
    assert planned_jobs(origin) == set()

    artifacts(origin, "push")
    staged = set(git(origin, "diff", "--cached", "--name-only").split())
    # one pointer per unit: data/<dir>, results/tables, results/figures and every
    # results/<task>/<experiment>
    units = [p for p in (origin / "data").iterdir() if p.is_dir()]
    for sub in (p for p in (origin / "results").iterdir() if p.is_dir()):
        units += [sub] if sub.name in ("tables", "figures", "claims", "step_curves", "capacity") else [
            p for p in sub.iterdir() if p.is_dir()]
    pointers = {f"{p.relative_to(origin)}.dvc" for p in units}
    assert {f"{TASK_DIR}/{e}.dvc" for e in EXPERIMENTS} | {"data/processed.dvc"} <= pointers
    assert staged == pointers  # staged by DVC (autostage); nothing else changed in git
    assert git(origin, "status", "--porcelain", "--untracked-files=all").split() == [
        item for p in sorted(pointers) for item in ("A", p)
    ]
    git(origin, "commit", "-qm", "artifacts of the tiny run")
    # checkpoints are resume state, not shared
    assert (origin / TASK_DIR / "meta_center_m2" / "checkpoint.pt").exists()
    pointer = (origin / TASK_DIR / "meta_center_m2.dvc").read_text()
    n_files = sum(1 for p in (origin / TASK_DIR / "meta_center_m2").iterdir()
                  if p.name != "checkpoint.pt")
    assert f"nfiles: {n_files}" in pointer
    return origin, remote


def test_pull_in_fresh_clone_restores_everything_and_reruns_nothing(pushed, tmp_path):
    origin, remote = pushed
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    use_remote(clone, remote)
    artifacts(clone, "pull", *CONFIG)

    assert versioned_files(clone) == versioned_files(origin)
    assert not list(clone.rglob("checkpoint.pt"))
    assert planned_jobs(clone) == set()  # the pulled artifacts are trusted as up to date

    # one artifact lost: its rule and exactly what depends on it rerun
    (clone / TASK_DIR / "meta_center_m3" / "model.pt").unlink()
    assert planned_jobs(clone) == dependants_of_training("meta_center_m3")
    (clone / TASK_DIR / "meta_center_m5" / "metrics.csv").unlink()
    assert planned_jobs(clone) == dependants_of_training("meta_center_m3") | {
        ("reconstruct", "meta_center_m5"), ("claims", "")  # Meta-5 is claimed (UNet > Meta-5)
    }


def test_pull_of_corrupt_or_missing_objects_fails_clearly_and_workflow_rebuilds(
    pushed, tmp_path
):
    origin, remote = pushed
    damaged = tmp_path / "damaged-remote"
    shutil.copytree(remote, damaged)

    def remote_object(path: Path) -> Path:
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        return damaged / "files" / "md5" / digest[:2] / digest[2:]

    remote_object(origin / TASK_DIR / "meta_center_m3" / "model.pt").write_bytes(b"bit rot")
    remote_object(origin / TASK_DIR / "meta_center_m7" / "recon.npz").unlink()

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    use_remote(clone, damaged)
    proc = artifacts(clone, "pull", *CONFIG, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "ERROR: dvc pull could not restore every artifact" in out
    for exp in ("meta_center_m3", "meta_center_m7"):
        assert f"  {TASK_DIR}/{exp}\n" in out  # named as not restored
        assert not (clone / TASK_DIR / exp).exists()  # never a corrupt file in the workspace
    # what was restored is intact and trusted; only the lost experiments are rebuilt
    restored = versioned_files(clone)
    expected = {k: v for k, v in versioned_files(origin).items()
                if "/meta_center_m3/" not in k and "/meta_center_m7/" not in k}
    assert restored == expected
    assert planned_jobs(clone) == dependants_of_training("meta_center_m3", "meta_center_m7")


def test_pull_of_truncated_object_or_missing_directory_listing_fails_clearly_and_rebuilds(
    pushed, tmp_path
):
    """A remote object cut short (an interrupted upload) and a unit whose ``.dir`` object (the
    directory listing) is gone: both named, neither placed in the workspace, both rebuilt."""
    import yaml

    origin, remote = pushed
    damaged = tmp_path / "damaged-remote"
    shutil.copytree(remote, damaged)

    def remote_path(digest: str) -> Path:
        return damaged / "files" / "md5" / digest[:2] / digest[2:]

    model = origin / TASK_DIR / "meta_center_m3" / "model.pt"
    obj = remote_path(hashlib.md5(model.read_bytes()).hexdigest())
    obj.write_bytes(obj.read_bytes()[: obj.stat().st_size // 2])  # truncated, same name
    [out] = yaml.safe_load((origin / TASK_DIR / "meta_center_m5.dvc").read_text())["outs"]
    assert out["md5"].endswith(".dir")
    remote_path(out["md5"]).unlink()  # the listing of meta_center_m5/ is missing

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    use_remote(clone, damaged)
    proc = artifacts(clone, "pull", *CONFIG, check=False)
    out_text = proc.stdout + proc.stderr
    assert proc.returncode == 1, out_text[-3000:]
    assert "ERROR: dvc pull could not restore every artifact" in out_text
    for exp in ("meta_center_m3", "meta_center_m5"):
        assert f"  {TASK_DIR}/{exp}\n" in out_text  # named as not restored
        assert not (clone / TASK_DIR / exp).exists()  # nothing truncated or partial placed
    restored = versioned_files(clone)
    expected = {k: v for k, v in versioned_files(origin).items()
                if "/meta_center_m3/" not in k and "/meta_center_m5/" not in k}
    assert restored == expected
    assert planned_jobs(clone) == dependants_of_training("meta_center_m3", "meta_center_m5")
    # the truncated copy never entered the cache: a later checkout cannot place it either
    dvc(clone, "checkout", f"{TASK_DIR}/meta_center_m3.dvc", check=False)
    assert not (clone / TASK_DIR / "meta_center_m3").exists()
