"""``snakemake -n`` refuses bad values of issue 13 (item 2) naming the key, layered over the tiny
quick configuration as a user would. Every case of tests/test_config_checks.py goes through
``metainv.config.resolve`` in process there, the function the Snakefile calls (common.smk); two
of them (a data key, an experiment key) go through a real ``snakemake -n`` here, which shows the
workflow refuses them before it plans a job."""

import pytest
import yaml

from test_config_checks import BAD  # tests/ is on sys.path (rootdir test module)

from .conftest import snakemake, workflow_copy

pytestmark = pytest.mark.slow


def plan(work, override: str):
    (work / "config" / "bad.yaml").write_text(override)
    proc = snakemake(work, "-n", "--cores", "1", "--configfile", "config/quick.yaml", "config/tiny.yaml",
                     "config/bad.yaml", timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return workflow_copy(tmp_path_factory.mktemp("plan"))


def test_the_tiny_config_plans(work):
    rc, out = plan(work, "{}\n")
    assert rc == 0, out[-3000:]


#: a data-level and an experiment-level refusal (the rest: in process, test_config_checks.py)
THROUGH_SNAKEMAKE = [case for case in BAD if case.id in ("folder-missing", "learn-gd")]


@pytest.mark.parametrize("override, key, phrase", THROUGH_SNAKEMAKE)
def test_snakemake_n_refuses_a_bad_value_naming_the_key(work, override, key, phrase):
    rc, out = plan(work, yaml.safe_dump(override))
    assert rc != 0
    assert f"{key}:" in out and phrase in out, out[-3000:]
    assert "Building DAG of jobs" not in out  # refused while the config is read, before any job


def test_an_unknown_top_level_key_shows_the_allowed_keys_not_the_schema(work):
    rc, out = plan(work, "experimnets: {}\n")
    assert rc != 0 and "'experimnets' was unexpected" in out
    assert "allowed keys: seed, device, tf32" in out
    assert len(out.splitlines()) < 15, out
