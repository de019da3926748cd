"""`snakemake --report` groups outputs by category: the claims are one, beside the tables."""

from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings

from .conftest import workflow_copy


def report_flags(work: Path, rule: str) -> dict:
    """{output path: its report() object} of one rule, from the parsed workflow (no job runs)."""
    with SnakemakeApi() as api:
        wf = api.workflow(resource_settings=ResourceSettings(), snakefile=work / "Snakefile", workdir=work,
                          config_settings=ConfigSettings(configfiles=[work / "config" / "quick.yaml"]))
        return {str(f): f.flags["report"] for f in wf._workflow.get_rule(rule).output if "report" in f.flags}


def test_claims_are_a_report_category_with_a_caption(tmp_path):
    work = workflow_copy(tmp_path)
    flags = report_flags(work, "claims")
    assert list(flags) == ["results/claims/claims.csv"]
    assert flags["results/claims/claims.csv"].category == "Claims"
    caption = work / "workflow" / "report" / "claims.rst"
    assert caption.is_file() and "bootstrap interval" in caption.read_text()


def test_the_step_curve_figure_is_in_the_report_with_a_caption(tmp_path):
    work = workflow_copy(tmp_path)
    flags = report_flags(work, "step_curve")
    (png,) = flags  # the figure, not the CSV ({name,<constraint>}: the wildcard and its constraint)
    assert png.startswith("results/step_curves/{name") and png.endswith("}.png")
    assert flags[png].category == "Inner steps"
    caption = work / "workflow" / "report" / "step_curve.rst"
    assert caption.is_file() and "inner steps" in caption.read_text()


def test_the_capacity_figure_is_in_the_report_with_a_caption(tmp_path):
    work = workflow_copy(tmp_path)
    flags = report_flags(work, "capacity")
    (png,) = flags  # the figure, not the CSV or the markdown
    assert png.startswith("results/capacity/{name") and png.endswith("}.png")
    assert flags[png].category == "Capacity"
    caption = work / "workflow" / "report" / "capacity.rst"
    assert caption.is_file() and "adapts per image" in caption.read_text().replace("\n", " ")
