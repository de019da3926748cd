"""Helpers for tests that run the real Snakemake workflow on a copy of the repository."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = Path(__file__).with_name("tiny.yaml")


def workflow_copy(dest: Path) -> Path:
    """Snakefile, workflow/, config/ and tools/ copied to ``dest`` (outputs land there, not in the repo)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    for folder in ("workflow", "config", "tools"):
        shutil.copytree(REPO / folder, dest / folder, dirs_exist_ok=True)
    shutil.copy2(TINY, dest / "config" / "tiny.yaml")
    return dest


def env() -> dict:
    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e.get('PATH', '')}"
    return e


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env(),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The quick workflow with the tiny overrides, run once for the session.

    Under pytest-xdist every test using it is grouped onto one worker (tests/conftest.py); a
    second worker setting it up means the grouping broke, and the run would cost twice."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        owner = tmp_path_factory.getbasetemp().parent / "tiny_run.owner"  # shared by the workers
        try:
            with owner.open("x") as claim:
                claim.write(os.environ["PYTEST_XDIST_WORKER"])
        except FileExistsError:
            pytest.fail(f"tiny_run is being set up a second time (first by {owner.read_text()}): "
                        "xdist's --dist loadgroup did not group its tests (see tests/conftest.py, pyproject.toml)")
    work = workflow_copy(tmp_path_factory.mktemp("tiny"))
    proc = snakemake(work, "--cores", "2", "--configfile", "config/quick.yaml", "config/tiny.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return work
