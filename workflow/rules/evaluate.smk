# Reconstruct the validation images with each experiment's method (metainv reconstruct: Meta,
# RED/HQS, UNet, unrolled, interpolation) and score them per image, in one job per experiment.


rule reconstruct:
    """Every validation measurement through the experiment's method (one stage for all), then
    per-image MSE / PSNR / SSIM (and LPIPS where a table asks) of the reconstruction and its
    input."""
    input:
        unpack(reconstruct_inputs),
    output:
        recon="results/{task}/{exp}/recon.npz",
        metrics="results/{task}/{exp}/metrics.csv",
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
        lpips=lambda wc: " ".join(lpips_nets(wc.exp)),
    shell:
        "metainv --threads {threads} reconstruct --spec {params.spec} --data {params.data} "
        "--out {output.recon} --metrics {output.metrics} --lpips {params.lpips} {params.files} "
        "--device {params.device} > {log} 2>&1"
