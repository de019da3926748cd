# Meta-training stage (Algorithm 2): one SIREN initialisation per meta experiment.


rule meta_train:
    """Learn θ and the inner rates; resumes from checkpoint.pt beside the model if killed."""
    input:
        unpack(experiment_store),
        unpack(lambda wc: solver_inputs(wc.exp)),
    output:
        model="results/{task}/{exp}/model.pt",
        train_log="results/{task}/{exp}/train_log.csv",
        curve=report(
            "results/{task}/{exp}/train_curve.png",
            caption="../report/train_curve.rst",
            category="Training curves",
            subcategory="{task}",
        ),
    log:
        "logs/meta_train/{task}/{exp}.log",
    benchmark:
        "logs/meta_train/{task}/{exp}.benchmark.tsv"
    wildcard_constraints:
        exp=id_pattern(trained_ids("meta")),
    conda:
        "../envs/metainv.yaml"
    threads: config["threads"]
    resources:
        **job_resources("meta_train"),
    params:
        spec=lambda wc: job_arg(wc.exp),
        data=lambda wc, input: str(Path(input.train).parent),
        device=config["device"],
        solver=lambda wc, input: solver_flags(input),
    shell:
        "metainv --threads {threads} meta-train --spec {params.spec} --data {params.data} "
        "--model {output.model} --log {output.train_log} --curve {output.curve} "
        "--device {params.device} {params.solver} > {log} 2>&1"
