# Classical baselines with the DnCNN prior (Table 3): RED and HQS, 12 steps or to convergence.
# Parameters are searched on the tuning split (data.tuning; tune_classical), then the validation
# set is solved (solve_classical) into recon.npz, which the evaluate/table rules pick up.


rule tune_classical:
    """Grid search of λ / σ_f (RED) or the schedule (HQS) on the tuning split."""
    input:
        unpack(experiment_store),
        denoiser=rules.train_denoiser.output.model,
    output:
        table="results/{task}/{exp}/tuning.csv",
        params="results/{task}/{exp}/params.json",
    log:
        "logs/tune_classical/{task}/{exp}.log",
    benchmark:
        "logs/tune_classical/{task}/{exp}.benchmark.tsv"
    wildcard_constraints:
        exp=id_pattern(CLASSICAL_IDS),
    conda:
        "../envs/metainv.yaml"
    threads: config["threads"]
    resources:
        **job_resources("tune_classical"),
    params:
        spec=lambda wc: spec_arg(EXPERIMENTS[wc.exp]),
        data=lambda wc, input: str(Path(input.train).parent),
        device=config["device"],
    shell:
        "metainv --threads {threads} tune-classical --spec {params.spec} --data {params.data} "
        "--denoiser {input.denoiser} --table {output.table} "
        "--params {output.params} --device {params.device} > {log} 2>&1"


rule solve_classical:
    """RED / HQS with the chosen parameters on every validation measurement."""
    input:
        unpack(experiment_store),
        denoiser=rules.train_denoiser.output.model,
        params="results/{task}/{exp}/params.json",
    output:
        "results/{task}/{exp}/recon.npz",
    log:
        "logs/solve_classical/{task}/{exp}.log",
    benchmark:
        "logs/solve_classical/{task}/{exp}.benchmark.tsv"
    wildcard_constraints:
        exp=id_pattern(CLASSICAL_IDS),
    conda:
        "../envs/metainv.yaml"
    threads: config["threads"]
    resources:
        **job_resources("solve_classical"),
    params:
        spec=lambda wc: spec_arg(EXPERIMENTS[wc.exp]),
        data=lambda wc, input: str(Path(input.val).parent),
        device=config["device"],
    shell:
        "metainv --threads {threads} solve-classical --spec {params.spec} --data {params.data} "
        "--denoiser {input.denoiser} --params {input.params} --out {output} "
        "--device {params.device} > {log} 2>&1"
