# Data stage: build the preprocessed store data/processed/<source>/<resolution>/.

DATA = config["data"]
CELEBA_RAW = "data/raw/celeba"


# split, crop and decoding flags shared by the CelebA and folder rules
DATA_FLAGS = (
    f"--n-train {DATA['n_train'] if DATA['n_train'] is not None else 'all'} "
    f"--n-val {DATA['n_val']} --seed {config['seed']} "
    f"--crop {DATA['crop']} --on-corrupt {DATA['on_corrupt']}"
)


rule prepare_sample:
    """Embedded sample faces (skimage LFW subset + portrait crops): offline, no download."""
    output:
        train="data/processed/sample/{res}/train.npy",
        val="data/processed/sample/{res}/val.npy",
        manifest="data/processed/sample/{res}/manifest.json",
    log:
        "logs/prepare_sample/{res}.log",
    benchmark:
        "logs/prepare_sample/{res}.benchmark.tsv"
    wildcard_constraints:
        res=r"\d+",
    conda:
        "../envs/metainv.yaml"
    params:
        n_val=config["data"]["n_val"],
        n_train=(
            f"--n-train {config['data']['n_train']}"
            if config["data"]["n_train"]
            else ""
        ),
        crops=config["data"]["sample"]["crops_per_portrait"],
        seed=config["seed"],
    shell:
        "metainv prepare-sample --out data/processed/sample/{wildcards.res} "
        "--resolution {wildcards.res} --n-val {params.n_val} {params.n_train} "
        "--crops {params.crops} --seed {params.seed} > {log} 2>&1"


rule download_celeba:
    """CelebA files into data/raw/celeba/: files already there are md5-verified and kept, else
    each mirror of data.celeba.mirrors, then Google Drive (resumable, md5-checked, atomic).
    Only checksums.md5 is declared, so a failed run never deletes what was downloaded.
    """
    output:
        checksums=f"{CELEBA_RAW}/checksums.md5",
    log:
        "logs/download_celeba/download_celeba.log",
    benchmark:
        "logs/download_celeba/download_celeba.benchmark.tsv"
    conda:
        "../envs/metainv.yaml"
    params:
        # a function: a mirror template's {name} is for the command, not a Snakemake wildcard
        sources=lambda wc: " ".join(
            f"--mirror {shlex.quote(m)}" for m in DATA["celeba"]["mirrors"]
        )
        + ("" if DATA["celeba"]["gdrive"] else " --no-gdrive"),
        raw=lambda wc, output: str(Path(output.checksums).parent),
        retries=DATA["celeba"]["retries"],
        timeout=DATA["celeba"]["timeout"],
    shell:
        "metainv download-celeba --raw-dir {params.raw} {params.sources} "
        "--retries {params.retries} --timeout {params.timeout} > {log} 2>&1"


rule prepare_celeba:
    """Official partition (train → train, valid → val), seeded subset, centre crop
    (data.crop; auto = 178×178) + LANCZOS resize to {res}², streamed into the store."""
    input:
        checksums=rules.download_celeba.output.checksums,
    output:
        train="data/processed/celeba/{res}/train.npy",
        val="data/processed/celeba/{res}/val.npy",
        manifest="data/processed/celeba/{res}/manifest.json",
    log:
        "logs/prepare_celeba/{res}.log",
    benchmark:
        "logs/prepare_celeba/{res}.benchmark.tsv"
    wildcard_constraints:
        res=r"\d+",
    conda:
        "../envs/metainv.yaml"
    threads: DATA["workers"]
    params:
        raw=lambda wc, input: str(Path(input.checksums).parent),
        flags=DATA_FLAGS,
        min_size=f"--min-size {DATA['min_size']}" if DATA["min_size"] else "",
    shell:
        "metainv prepare --source celeba --raw-dir {params.raw} "
        "--out data/processed/celeba/{wildcards.res} --resolution {wildcards.res} "
        "{params.flags} {params.min_size} --workers {threads} > {log} 2>&1"


rule prepare_folder:
    """Any folder of JPEG/PNG images (data.folder, searched recursively): seeded val/train
    split, centre crop (auto = largest centred square) + LANCZOS resize to {res}²."""
    output:
        train="data/processed/folder/{res}/train.npy",
        val="data/processed/folder/{res}/val.npy",
        manifest="data/processed/folder/{res}/manifest.json",
    log:
        "logs/prepare_folder/{res}.log",
    benchmark:
        "logs/prepare_folder/{res}.benchmark.tsv"
    wildcard_constraints:
        res=r"\d+",
    conda:
        "../envs/metainv.yaml"
    threads: DATA["workers"]
    params:
        folder=shlex.quote(str(DATA["folder"])),
        flags=DATA_FLAGS,
        min_size=f"--min-size {DATA['min_size']}" if DATA["min_size"] else "",
    shell:
        "metainv prepare --source folder --folder {params.folder} "
        "--out data/processed/folder/{wildcards.res} --resolution {wildcards.res} "
        "{params.flags} {params.min_size} --workers {threads} > {log} 2>&1"
