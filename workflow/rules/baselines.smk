# Classical baselines with the DnCNN prior (Table 3): RED and HQS, 12 steps or to convergence;
# TV (Tables 5–7, not in the paper) with no learned prior, so no DnCNN input.
# Parameters are searched on the tuning split (data.tuning; tune_classical); rule reconstruct
# (evaluate.smk) then solves the validation set into recon.npz.


rule tune_classical:
    """Grid search of λ / σ_f (RED), the schedule (HQS) or λ / ρ (TV) on the tuning split."""
    input:
        unpack(tune_inputs),
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
        spec=lambda wc: job_arg(wc.exp),
        data=lambda wc, input: str(Path(input.train).parent),
        device=config["device"],
        denoiser=lambda wc, input: denoiser_flag(input),
    shell:
        "metainv --threads {threads} tune-classical --spec {params.spec} --data {params.data} "
        "{params.denoiser} --table {output.table} "
        "--params {output.params} --device {params.device} > {log} 2>&1"


# Learned baselines, trained end to end with L2 to ground truth (metainv.learned): the UNet of
# Tables 1–2 and RED(12)/HQS(12) unrolled with the DnCNN fine-tuned (Table 4). Each resumes
# from checkpoint.pt beside its model; rule reconstruct (evaluate.smk) scores the validation set.


rule train_unet:
    """UNet: zero-filled measurement + mask → image, on Meta's images and measurements."""
    input:
        unpack(experiment_store),
    output:
        model="results/{task}/{exp}/model.pt",
        train_log="results/{task}/{exp}/train_log.csv",
        curve=report(
            "results/{task}/{exp}/train_curve.png",
            caption="../report/train_curve.rst",
            category="Training",
            subcategory="{exp}",
        ),
    log:
        "logs/train_unet/{task}/{exp}.log",
    benchmark:
        "logs/train_unet/{task}/{exp}.benchmark.tsv"
    wildcard_constraints:
        exp=id_pattern(trained_ids("unet")),
    conda:
        "../envs/metainv.yaml"
    threads: config["threads"]
    resources:
        **job_resources("train_unet"),
    params:
        spec=lambda wc: job_arg(wc.exp),
        data=lambda wc, input: str(Path(input.train).parent),
        device=config["device"],
    shell:
        "metainv --threads {threads} train-unet --spec {params.spec} --data {params.data} "
        "--model {output.model} --log {output.train_log} --curve {output.curve} "
        "--device {params.device} --no-progress > {log} 2>&1"


rule train_unrolled:
    """RED/HQS unrolled, DnCNN fine-tuned from the pretrained one, tuned parameters fixed."""
    input:
        unpack(experiment_store),
        denoiser=rules.train_denoiser.output.model,
        params=unrolled_params,
    output:
        model="results/{task}/{exp}/model.pt",
        train_log="results/{task}/{exp}/train_log.csv",
        curve=report(
            "results/{task}/{exp}/train_curve.png",
            caption="../report/train_curve.rst",
            category="Training",
            subcategory="{exp}",
        ),
    log:
        "logs/train_unrolled/{task}/{exp}.log",
    benchmark:
        "logs/train_unrolled/{task}/{exp}.benchmark.tsv"
    wildcard_constraints:
        exp=id_pattern(UNROLLED_IDS),
    conda:
        "../envs/metainv.yaml"
    threads: config["threads"]
    resources:
        **job_resources("train_unrolled"),
    params:
        spec=lambda wc: job_arg(wc.exp),
        data=lambda wc, input: str(Path(input.train).parent),
        device=config["device"],
    shell:
        "metainv --threads {threads} train-unrolled --spec {params.spec} --data {params.data} "
        "--denoiser {input.denoiser} --params {input.params} --model {output.model} "
        "--log {output.train_log} --curve {output.curve} --device {params.device} "
        "--no-progress > {log} 2>&1"
