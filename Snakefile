# metainv — reproduces "Meta-learning for Solving Inverse Problems" (Zhao).
#
#   snakemake --cores all                                  # the paper, at paper scale
#   snakemake --cores all --configfile config/quick.yaml   # embedded offline default, minutes on CPU
#
# The workflow is thin: every rule calls one `metainv <command>`; the science lives in
# src/metainv. Stages: data → meta-training → reconstruct and score → tables and figures.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/meta.smk"
include: "workflow/rules/denoiser.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/step_curve.smk"


rule all:
    default_target: True
    input:
        all_targets(),
