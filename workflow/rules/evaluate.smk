# Reconstruct the validation images with each experiment's method (metainv reconstruct: Meta,
# RED/HQS, UNet, unrolled, interpolation), then score them per image.


rule reconstruct:
    """Every validation measurement through the experiment's method (one stage for all)."""
    input:
        unpack(reconstruct_inputs),
    output:
        "results/{task}/{exp}/recon.npz",
    log:
        "logs/reconstruct/{task}/{exp}.log",
    benchmark:
        "logs/reconstruct/{task}/{exp}.benchmark.tsv"
    wildcard_constraints:
        exp=id_pattern(list(EXPERIMENTS)),
    conda:
        "../envs/metainv.yaml"
    threads: config["threads"]
    resources:
        **job_resources("reconstruct"),
    params:
        spec=lambda wc: job_arg(wc.exp),
        data=lambda wc, input: str(Path(input.val).parent),
        device=config["device"],
        files=lambda wc, input: reconstruct_flags(input),
    shell:
        "metainv --threads {threads} reconstruct --spec {params.spec} --data {params.data} "
        "--out {output} {params.files} --device {params.device} > {log} 2>&1"


rule evaluate:
    """Per-image MSE / PSNR / SSIM (and LPIPS where a table asks) of a reconstruction and its input y."""
    input:
        unpack(experiment_store),
        recon="results/{task}/{exp}/recon.npz",
    output:
        "results/{task}/{exp}/metrics.csv",
    log:
        "logs/evaluate/{task}/{exp}.log",
    benchmark:
        "logs/evaluate/{task}/{exp}.benchmark.tsv"
    wildcard_constraints:
        exp=id_pattern(list(EXPERIMENTS)),
    conda:
        "../envs/metainv.yaml"
    threads: config["threads"]
    params:
        data=lambda wc, input: str(Path(input.val).parent),
        lpips=lambda wc: " ".join(lpips_nets(wc.exp)),
    shell:
        "metainv --threads {threads} evaluate --recon {input.recon} --data {params.data} "
        "--out {output} --lpips {params.lpips} > {log} 2>&1"
