"""``snakemake -n`` plans the Meta-FiLM rows (not in the paper; docs: beyond) and the step
curve: on the quick configuration Table 1's row and the curve (its Table 2–3 and 5–7 rows are
disabled for the quick run's budget and read "not run"), on the paper configuration every row;
the table, claims and report rules read them. And the TV rows of Tables 5–7 plan without the
DnCNN (TV has no learned prior)."""

import re

import pytest

from .conftest import snakemake, workflow_copy

pytestmark = pytest.mark.slow


def _plan(work, *configfiles):
    """[(rule, the job's text)] of a dry run."""
    proc = snakemake(work, "-n", "--cores", "1", *(["--configfile", *configfiles] if configfiles else []),
                     timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    blocks = re.split(r"\n(?=(?:local)?rule \w+:\n)", proc.stdout)
    return [(m.group(1), b) for b in blocks if (m := re.match(r"(?:local)?rule (\w+):\n", b))]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return workflow_copy(tmp_path_factory.mktemp("film_plan"))


@pytest.fixture(scope="module")
def quick(work):
    return _plan(work, "config/quick.yaml")


@pytest.fixture(scope="module")
def paper(work):
    return _plan(work)


def _line(block: str, key: str) -> str:
    return next((ln.strip() for ln in block.splitlines() if ln.strip().startswith(f"{key}:")), "")


def _trained(jobs, task, exp):
    return any(rule == "meta_train" and _line(b, "wildcards") == f"wildcards: task={task}, exp={exp}"
               for rule, b in jobs)


def _scored(jobs, exp):
    """Reconstructed and scored: one reconstruct job writes recon.npz and metrics.csv."""
    return any(rule == "reconstruct" and _line(b, "wildcards").endswith(f"exp={exp}")
               and "metrics.csv" in _line(b, "output") for rule, b in jobs)


def _inputs(jobs, rule, number=None):
    block = next(b for r, b in jobs if r == rule and (number is None or f"number={number}" in _line(b, "wildcards")))
    return _line(block, "input")


def test_the_quick_run_trains_and_scores_table_1s_row_and_not_the_disabled_ones(quick):
    assert _trained(quick, "inpaint_center", "meta_film_center") and _scored(quick, "meta_film_center")
    assert "meta_film_center/metrics.csv" in _inputs(quick, "table", 1)
    assert "meta_film_center/metrics.csv" in _inputs(quick, "claims")
    assert not _trained(quick, "inpaint_random", "meta_film_random")
    assert not _trained(quick, "deblur", "meta_red_film")


@pytest.mark.parametrize("jobs, names", [("quick", ["center"]), ("paper", ["center", "deblur"])])
def test_each_step_curve_is_one_job_that_reads_its_models(request, jobs, names):
    curves = {_line(b, "wildcards"): _line(b, "input") for rule, b in request.getfixturevalue(jobs)
              if rule == "step_curve"}
    assert sorted(curves) == [f"wildcards: name={n}" for n in names]  # quick disables deblur
    center = curves["wildcards: name=center"]
    assert "inpaint_center/meta_center_m3/model.pt" in center and "inpaint_center/meta_film_center/model.pt" in center
    if "deblur" in names:
        deblur = curves["wildcards: name=deblur"]
        for path in ("deblur/meta_red_l2/model.pt", "deblur/meta_red_film/model.pt", "deblur/red_12/params.json",
                     "denoiser/dncnn/model.pt"):
            assert path in deblur, path


@pytest.mark.parametrize("task, exp", [
    ("inpaint_center", "meta_film_center"), ("inpaint_random", "meta_film_random"), ("deblur", "meta_red_film"),
    ("compressed_sensing", "meta_film_cs"), ("super_resolution", "meta_film_sr"), ("mri", "meta_film_mri"),
    ("mri_8x", "meta_film_mri_8x"),
])
def test_the_paper_config_trains_each_film_model(paper, task, exp):
    assert _trained(paper, task, exp)


def test_the_paper_config_scores_every_film_row_in_its_table(paper):
    for exp in ("meta_film_random", "meta_film_random_k10", "meta_film_random_k1000", "meta_film_random_half",
                "meta_film_random_dc_k10", "meta_film_random_dc_k500", "meta_film_random_dc_k1000",
                "meta_film_random_dc_half"):
        assert _scored(paper, exp), exp
        assert f"{exp}/metrics.csv" in _inputs(paper, "table", 2)
    assert _scored(paper, "meta_red_film") and "meta_red_film/metrics.csv" in _inputs(paper, "table", 3)
    assert "meta_red_film/metrics.csv" in _inputs(paper, "claims")
    for number, exps in (("5", ["meta_film_cs"]), ("6", ["meta_film_sr"]), ("7", ["meta_film_mri", "meta_film_mri_8x"])):
        for exp in exps:
            assert _scored(paper, exp) and f"{exp}/metrics.csv" in _inputs(paper, "table", number), exp
            assert f"{exp}/metrics.csv" in _inputs(paper, "claims"), exp


def test_the_quick_run_leaves_tables_5_to_7s_film_rows_out(quick):
    for task, exp in (("compressed_sensing", "meta_film_cs"), ("super_resolution", "meta_film_sr"),
                      ("mri", "meta_film_mri")):
        assert not _trained(quick, task, exp)


def _tuned(jobs, exp):
    return [b for rule, b in jobs if rule == "tune_classical" and _line(b, "wildcards").endswith(f"exp={exp}")]


@pytest.mark.parametrize("jobs, exps", [("quick", ["tv_cs", "tv_sr", "tv_mri"]),
                                        ("paper", ["tv_cs", "tv_sr", "tv_mri", "tv_mri_8x"])])
def test_tv_is_searched_and_scored_without_the_dncnn(request, jobs, exps):
    plan = request.getfixturevalue(jobs)
    for exp in exps:
        (search,) = _tuned(plan, exp)
        assert "denoiser" not in _line(search, "input") and "--denoiser" not in search, search
        recon = next(b for rule, b in plan if rule == "reconstruct" and _line(b, "wildcards").endswith(f"exp={exp}"))
        assert f"{exp}/params.json" in _line(recon, "input") and "denoiser" not in _line(recon, "input")
    # HQS, beside it, still reads the DnCNN
    (hqs,) = _tuned(plan, "hqs_sr")
    assert "denoiser/dncnn/model.pt" in _line(hqs, "input")


def test_a_tv_table_row_alone_trains_no_denoiser(work):
    proc = snakemake(work, "-n", "--cores", "1", "results/super_resolution/tv_sr/metrics.csv",
                     "--configfile", "config/quick.yaml", timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "rule tune_classical:" in out and "rule reconstruct:" in out
    assert "rule train_denoiser:" not in out
