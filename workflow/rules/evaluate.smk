# Reconstruct the validation images with each trained method, then score them per image.


rule reconstruct_meta:
    """Algorithm 1 with the trained initialisation on every validation measurement."""
    input:
        unpack(experiment_store),
        unpack(lambda wc: solver_inputs(wc.exp, with_params=False)),
        model=lambda wc: model_path(wc.exp),
    output:
        "results/{task}/{exp}/recon.npz",
    log:
        "logs/reconstruct/{task}/{exp}.log",
    benchmark:
        "logs/reconstruct/{task}/{exp}.benchmark.tsv"
    wildcard_constraints:
        exp=id_pattern(ids_of("meta")),
    conda:
        "../envs/metainv.yaml"
    threads: config["threads"]
    resources:
        **job_resources("reconstruct_meta"),
    params:
        spec=lambda wc: spec_arg(EXPERIMENTS[wc.exp]),
        data=lambda wc, input: str(Path(input.val).parent),
        device=config["device"],
        solver=lambda wc, input: solver_flags(input),
    shell:
        "metainv --threads {threads} reconstruct-meta --spec {params.spec} --data {params.data} "
        "--model {input.model} --out {output} --device {params.device} {params.solver} > {log} 2>&1"


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
