# Data stage: build the preprocessed store data/processed/<source>/<resolution>/.


rule prepare_sample:
    """Embedded sample faces (skimage LFW subset + portrait crops): offline, no download."""
    output:
        train="data/processed/sample/{res}/train.npy",
        val="data/processed/sample/{res}/val.npy",
        manifest="data/processed/sample/{res}/manifest.json",
    params:
        n_val=config["data"]["n_val"],
        n_train=f"--n-train {config['data']['n_train']}" if config["data"]["n_train"] else "",
        crops=config["data"]["sample"]["crops_per_portrait"],
        seed=config["seed"],
    log:
        "logs/prepare_sample/{res}.log",
    wildcard_constraints:
        res=r"\d+",
    shell:
        "metainv prepare-sample --out data/processed/sample/{wildcards.res} "
        "--resolution {wildcards.res} --n-val {params.n_val} {params.n_train} "
        "--crops {params.crops} --seed {params.seed} 2> {log}"


rule download_celeba:
    """CelebA archives and text files into data/raw/celeba/ (checksummed, resumable)."""
    output:
        archive="data/raw/celeba/img_align_celeba.zip",
        partition="data/raw/celeba/list_eval_partition.txt",
    log:
        "logs/download_celeba.log",
    shell:
        "metainv download-celeba --out data/raw/celeba 2> {log}"


rule prepare_celeba:
    """Official partition, seeded subset, centre crop + antialiased resize to {res}²."""
    input:
        archive=rules.download_celeba.output.archive,
        partition=rules.download_celeba.output.partition,
    output:
        train="data/processed/celeba/{res}/train.npy",
        val="data/processed/celeba/{res}/val.npy",
        manifest="data/processed/celeba/{res}/manifest.json",
    params:
        n_train=config["data"]["n_train"] or 0,
        n_val=config["data"]["n_val"],
        seed=config["seed"],
    log:
        "logs/prepare_celeba/{res}.log",
    wildcard_constraints:
        res=r"\d+",
    shell:
        "metainv prepare-celeba --raw data/raw/celeba --out data/processed/celeba/{wildcards.res} "
        "--resolution {wildcards.res} --n-train {params.n_train} --n-val {params.n_val} "
        "--seed {params.seed} 2> {log}"
