# Reconstruct the validation images with each trained method, then score them per image.


rule reconstruct_meta:
    """Algorithm 1 with the trained initialisation on every validation measurement."""
    input:
        unpack(experiment_store),
        unpack(lambda wc: solver_inputs(wc.exp, with_params=False)),
        model=lambda wc: model_path(wc.exp),
    output:
        "results/{task}/{exp}/recon.npz",
    params:
        spec=lambda wc: spec_arg(EXPERIMENTS[wc.exp]),
        data=lambda wc, input: str(Path(input.val).parent),
        device=config["device"],
        solver=lambda wc, input: solver_flags(input),
    log:
        "logs/reconstruct/{task}/{exp}.log",
    wildcard_constraints:
        exp=id_pattern(ids_of("meta")),
    threads: config["threads"]
    resources:
        **config["resources"]["reconstruct_meta"],
    shell:
        "metainv --threads {threads} reconstruct --spec {params.spec} --data {params.data} "
        "--model {input.model} --out {output} --device {params.device} {params.solver} 2> {log}"


rule evaluate:
    """Per-image MSE / PSNR / SSIM (and LPIPS where a table asks) of a reconstruction and its input y."""
    input:
        unpack(experiment_store),
        recon="results/{task}/{exp}/recon.npz",
    output:
        "results/{task}/{exp}/metrics.csv",
    params:
        data=lambda wc, input: str(Path(input.val).parent),
        lpips=lambda wc: " ".join(lpips_nets(wc.exp)),
    log:
        "logs/evaluate/{task}/{exp}.log",
    wildcard_constraints:
        exp=id_pattern(list(EXPERIMENTS)),
    threads: config["threads"]
    shell:
        "metainv --threads {threads} evaluate --recon {input.recon} --data {params.data} --out {output} "
        "--lpips {params.lpips} 2> {log}"
