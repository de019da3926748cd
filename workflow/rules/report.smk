# Report stage: paper tables (ours beside the paper's numbers), figures, and the paper's
# claims checked with paired statistics.


# Seconds of work each: on a cluster they run where Snakemake runs instead of queueing.
localrules:
    table,
    figure,
    claims,
    capacity,


rule table:
    input:
        unpack(
            lambda wc: {
                eid: f"{exp_dir(eid)}/metrics.csv"
                for eid in table_experiments(wc.number)
            }
        ),
    output:
        csv=report(
            "results/tables/table{number}.csv",
            caption="../report/table.rst",
            category="Table {number}",
            subcategory="Table",
        ),
        md="results/tables/table{number}.md",
        tex="results/tables/table{number}.tex",
    log:
        "logs/table/{number}.log",
    benchmark:
        "logs/table/{number}.benchmark.tsv"
    conda:
        "../envs/metainv.yaml"
    params:
        spec=lambda wc: spec_arg(config["tables"][wc.number]),
        metrics=lambda wc, input: " ".join(f"{k}={v}" for k, v in input.items()),
    shell:
        "metainv table --number {wildcards.number} --spec {params.spec} "
        "--metrics {params.metrics} --csv {output.csv} --md {output.md} --tex {output.tex} > {log} 2>&1"


rule figure:
    input:
        unpack(figure_store),
        recon=lambda wc: [f"{exp_dir(e)}/recon.npz" for e in figure_ids(wc.number)],
        metrics=lambda wc: [f"{exp_dir(e)}/metrics.csv" for e in figure_ids(wc.number)],
    output:
        report(
            "results/figures/figure{number}.png",
            caption="../report/figure.rst",
            category="Table {number}",
            subcategory="Figure",
        ),
    log:
        "logs/figure/{number}.log",
    benchmark:
        "logs/figure/{number}.benchmark.tsv"
    conda:
        "../envs/metainv.yaml"
    params:
        spec=lambda wc: spec_arg(config["figures"][wc.number]),
        data=lambda wc, input: str(Path(input.val).parent),
        recon=lambda wc: " ".join(
            shlex.quote(f"{e}={exp_dir(e)}/recon.npz") for e in figure_ids(wc.number)
        ),
        metrics=lambda wc: " ".join(
            shlex.quote(f"{e}={exp_dir(e)}/metrics.csv") for e in figure_ids(wc.number)
        ),
    shell:
        "metainv figure --spec {params.spec} --data {params.data} --recon {params.recon} "
        "--metrics {params.metrics} --out {output} > {log} 2>&1"


rule claims:
    """The paper's qualitative claims as paired comparisons over the validation images."""
    input:
        unpack(
            lambda wc: {
                eid: f"{exp_dir(eid)}/metrics.csv" for eid in claim_experiments()
            }
        ),
    output:
        csv=report(
            "results/claims/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
        ),
        md="results/claims/claims.md",
    log:
        "logs/claims.log",
    benchmark:
        "logs/claims.benchmark.tsv"
    conda:
        "../envs/metainv.yaml"
    params:
        spec=lambda wc: spec_arg(claim_comparisons()),
        metrics=lambda wc, input: " ".join(f"{k}={v}" for k, v in input.items()),
        seed=config["seed"],
    shell:
        "metainv claims --spec {params.spec} --metrics {params.metrics} --seed {params.seed} "
        "--csv {output.csv} --md {output.md} > {log} 2>&1"


rule capacity:
    """Scores against the values the inner loop adapts per image, each point paired against
    the references (not in the paper; docs: beyond)."""
    input:
        unpack(capacity_metrics),
    output:
        csv="results/capacity/{name}.csv",
        md="results/capacity/{name}.md",
        png=report(
            "results/capacity/{name}.png",
            caption="../report/capacity.rst",
            category="Capacity",
            subcategory="{name}",
        ),
    log:
        "logs/capacity/{name}.log",
    benchmark:
        "logs/capacity/{name}.benchmark.tsv"
    wildcard_constraints:
        name=id_pattern(CAPACITY_STUDIES),
    conda:
        "../envs/metainv.yaml"
    params:
        spec=lambda wc: spec_arg(metainv_config.capacity_spec(RESOLVED, wc.name)),
        metrics=lambda wc, input: " ".join(
            shlex.quote(f"{k}={v}") for k, v in input.items()
        ),
        seed=config["seed"],
    shell:
        "metainv capacity --spec {params.spec} --metrics {params.metrics} --seed {params.seed} "
        "--csv {output.csv} --md {output.md} --png {output.png} > {log} 2>&1"
