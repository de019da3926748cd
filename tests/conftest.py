import pytest
import torch


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items):
    """pytest-xdist (``-n auto --dist loadgroup``, pyproject addopts): the tests of one file share
    a worker, so module fixtures (a trained model, a SLURM cluster, a DVC remote) are built once;
    every test of the one tiny workflow run (fixture ``tiny_run``, five files) shares a worker too,
    so that run happens once per session (tests/workflow/conftest.py fails if it runs twice)."""
    for item in items:
        group = "tiny_run" if "tiny_run" in getattr(item, "fixturenames", ()) else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
