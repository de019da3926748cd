"""The workflow follows the snakemake-workflows conventions that docs/development.md promises:
``snakefmt --check`` and ``snakemake --lint`` (default and quick configuration) report nothing."""

import subprocess
import sys

import pytest

from .conftest import snakemake, workflow_copy


def test_rules_are_formatted_as_snakefmt_writes_them(tmp_path):
    work = workflow_copy(tmp_path / "fmt")
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow"], cwd=work,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "would be left unchanged" in proc.stderr and "would be changed" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("configs", [(), ("--configfile", "config/quick.yaml")], ids=["default", "quick"])
def test_snakemake_lint_finds_nothing(tmp_path, configs):
    work = workflow_copy(tmp_path / "lint")
    proc = snakemake(work, "--lint", *configs, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "your workflow is in a good condition" in proc.stdout + proc.stderr
