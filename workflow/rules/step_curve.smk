# PSNR against the number of inner steps (not in the paper; docs: beyond): one job per curve
# loops over every number of steps in-process (metainv step-curve).


rule step_curve:
    """Each meta model of the curve at every number of inner steps, and the classical solvers
    for as many steps, on the validation split; PSNR and seconds per image."""
    input:
        unpack(step_curve_inputs),
    output:
        csv="results/step_curves/{name}.csv",
        png=report(
            "results/step_curves/{name}.png",
            caption="../report/step_curve.rst",
            category="Inner steps",
            subcategory="{name}",
        ),
    log:
        "logs/step_curve/{name}.log",
    benchmark:
        "logs/step_curve/{name}.benchmark.tsv"
    wildcard_constraints:
        name=id_pattern(STEP_CURVES),
    conda:
        "../envs/metainv.yaml"
    threads: config["threads"]
    resources:
        **job_resources("step_curve"),
    params:
        spec=lambda wc: spec_arg(metainv_config.step_curve_spec(RESOLVED, wc.name)),
        data=lambda wc, input: str(Path(input.val).parent),
        device=config["device"],
        files=lambda wc, input: step_curve_flags(wc, input),
    shell:
        "metainv --threads {threads} step-curve --spec {params.spec} --data {params.data} "
        "{params.files} --csv {output.csv} --png {output.png} --device {params.device} > {log} 2>&1"
