"""``snakemake -n`` on the quick configuration plans the Meta-FiLM rows (Tables 1–3) and the
step curve (not in the paper; docs: beyond), and the table, claims and report rules read them."""

import re

import pytest

from .conftest import snakemake, workflow_copy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """[(rule, the job's text)] of the quick configuration's dry run."""
    work = workflow_copy(tmp_path_factory.mktemp("film_plan"))
    proc = snakemake(work, "-n", "--cores", "1", "--configfile", "config/quick.yaml", timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    blocks = re.split(r"\n(?=(?:local)?rule \w+:\n)", proc.stdout)
    return [(m.group(1), b) for b in blocks if (m := re.match(r"(?:local)?rule (\w+):\n", b))]


def _wildcards(block: str) -> str:
    line = next((ln for ln in block.splitlines() if ln.strip().startswith("wildcards:")), "")
    return line.strip()


@pytest.mark.parametrize("task, exp", [
    ("inpaint_center", "meta_film_center"), ("inpaint_random", "meta_film_random"), ("deblur", "meta_red_film"),
])
def test_each_film_model_is_trained(jobs, task, exp):
    assert any(rule == "meta_train" and _wildcards(b) == f"wildcards: task={task}, exp={exp}" for rule, b in jobs)


@pytest.mark.parametrize("exp", [
    "meta_film_center", "meta_film_random", "meta_film_random_k1000", "meta_film_random_dc_k500", "meta_red_film",
])
def test_each_film_row_is_reconstructed_and_scored(jobs, exp):
    for wanted in ("reconstruct", "evaluate"):
        assert any(rule == wanted and _wildcards(b).endswith(f"exp={exp}") for rule, b in jobs), (wanted, exp)


def test_the_step_curve_is_one_job_that_reads_both_models(jobs):
    curves = [b for rule, b in jobs if rule == "step_curve"]
    assert len(curves) == 1 and _wildcards(curves[0]) == "wildcards: name=center"
    inputs = next(ln for ln in curves[0].splitlines() if ln.strip().startswith("input:"))
    assert "results/inpaint_center/meta_center_m3/model.pt" in inputs
    assert "results/inpaint_center/meta_film_center/model.pt" in inputs


def test_tables_and_claims_read_the_film_rows(jobs):
    def inputs(rule, number=None):
        block = next(b for r, b in jobs if r == rule and (number is None or f"number={number}" in _wildcards(b)))
        return next(ln for ln in block.splitlines() if ln.strip().startswith("input:"))

    assert "meta_film_center/metrics.csv" in inputs("table", 1)
    assert "meta_film_random_dc_k1000/metrics.csv" in inputs("table", 2)
    assert "meta_red_film/metrics.csv" in inputs("table", 3)
    assert "meta_red_film/metrics.csv" in inputs("claims") and "meta_film_random/metrics.csv" in inputs("claims")
