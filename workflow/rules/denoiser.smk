# Denoiser stage: the DnCNN prior of RED / HQS, trained once at σ₀ (config.denoiser).


rule train_denoiser:
    """DnCNN at σ₀ with fresh noise per batch and flip/rotation augmentation on the training
    split minus its held-out tail; resumes from checkpoint.pt beside the model if killed.
    """
    input:
        **store_files(config["denoiser"]["resolution"]),
    output:
        model=f"{DENOISER_DIR}/model.pt",
        train_log=f"{DENOISER_DIR}/train_log.csv",
        curve=report(
            f"{DENOISER_DIR}/train_curve.png",
            caption="../report/denoiser_curve.rst",
            category="Training curves",
            subcategory="denoiser",
        ),
        eval=f"{DENOISER_DIR}/eval.json",
    log:
        "logs/train_denoiser/dncnn.log",
    benchmark:
        "logs/train_denoiser/dncnn.benchmark.tsv"
    conda:
        "../envs/metainv.yaml"
    threads: config["threads"]
    resources:
        **job_resources("train_denoiser"),
    params:
        spec=spec_arg(denoiser_spec()),
        data=lambda wc, input: str(Path(input.train).parent),
        device=config["device"],
    shell:
        "metainv --threads {threads} train-denoiser --spec {params.spec} --data {params.data} "
        "--model {output.model} --log {output.train_log} --curve {output.curve} "
        "--eval {output.eval} --device {params.device} --no-progress > {log} 2>&1"
