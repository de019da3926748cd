# Classical reference of Table 2: linear interpolation of the observed pixels (no training).


rule interpolate:
    """Linear interpolation of the observed pixels of every validation measurement."""
    input:
        unpack(experiment_store),
    output:
        "results/{task}/{exp}/recon.npz",
    log:
        "logs/interpolate/{task}/{exp}.log",
    benchmark:
        "logs/interpolate/{task}/{exp}.benchmark.tsv"
    wildcard_constraints:
        exp=id_pattern(ids_of("interp")),
    conda:
        "../envs/metainv.yaml"
    params:
        spec=lambda wc: spec_arg(EXPERIMENTS[wc.exp]),
        data=lambda wc, input: str(Path(input.val).parent),
    shell:
        "metainv interpolate --spec {params.spec} --data {params.data} --out {output} > {log} 2>&1"
