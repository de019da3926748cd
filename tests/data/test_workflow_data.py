"""The data rules plan under ``snakemake -n`` with the right outputs and valid commands."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from metainv.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
PAPER_CONFIG = REPO / "config" / "config.yaml"
STORE_FILES = ("train.npy", "val.npy", "manifest.json")


def dry_run(workdir: Path, *extra: str) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "4",
           "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(PAPER_CONFIG), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def planned_jobs(text: str) -> list[dict]:
    """[{rule, output: [...], shell}] from a dry run's job listing."""
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\nrule |rule )", text):
        m = re.search(r"^rule (\w+):", block, re.M)
        if not m:
            continue
        out = re.search(r"^\s+output: (.*)$", block, re.M)
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        jobs.append({"rule": m.group(1),
                     "output": out.group(1).split(", ") if out else [],
                     "shell": shell.group(1) if shell else None})
    return jobs


def assert_cli_accepts(shell: str) -> None:
    argv = shlex.split(re.split(r" 2?> ", shell)[0])  # the command without its log redirection
    assert argv[0] == "metainv"
    build_parser().parse_args(argv[1:])  # SystemExit on an unknown or malformed flag


def test_paper_config_plans_download_and_prepare(tmp_path):
    rc, text = dry_run(tmp_path)
    assert rc == 0, text
    jobs = planned_jobs(text)
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(job["rule"], []).append(job)
    [download] = by_rule["download_celeba"]
    assert download["output"] == ["data/raw/celeba/checksums.md5"]
    assert "download-celeba --raw-dir data/raw/celeba" in download["shell"]
    assert_cli_accepts(download["shell"])
    from metainv.config import load_config

    config = load_config(PAPER_CONFIG)  # resolved: the defaults the Snakefile sees
    task_res = {t["resolution"] for t in config["tasks"].values()}
    planned_res = set()
    for job in by_rule["prepare_celeba"]:
        res = int(job["output"][0].split("/")[3])
        planned_res.add(res)
        assert job["output"] == [f"data/processed/celeba/{res}/{f}" for f in STORE_FILES]
        assert (f"--resolution {res} --n-train {config['data']['n_train']} "
                f"--n-val {config['data']['n_val']} --seed {config['seed']}") in job["shell"]
        assert "--min-size" not in job["shell"]  # default: resolution / 2, decided by the command
        assert_cli_accepts(job["shell"])
    assert 128 in planned_res and planned_res <= task_res


def test_every_paper_resolution_can_be_prepared(tmp_path):
    targets = [f"data/processed/celeba/{r}/manifest.json" for r in (32, 64, 128)]
    rc, text = dry_run(tmp_path, "--", *targets)
    assert rc == 0, text
    jobs = planned_jobs(text)
    assert sorted(j["rule"] for j in jobs) == ["download_celeba"] + ["prepare_celeba"] * 3
    outputs = {o for j in jobs for o in j["output"]}
    assert {f"data/processed/celeba/{r}/{f}" for r in (32, 64, 128) for f in STORE_FILES} <= outputs


RESOLUTIONS = {t["resolution"] for t in yaml.safe_load(PAPER_CONFIG.read_text())["tasks"].values()}


def image_folder(folder: Path, n: int) -> Path:
    """``n`` small PNGs (the folder must exist and hold enough images at plan time)."""
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"{i}.png")
    return folder


def test_folder_source_replaces_celeba(tmp_path):
    photos = image_folder(tmp_path / "photos" / "my faces", 210)
    override = tmp_path / "folder.yaml"
    override.write_text(yaml.safe_dump(
        {"data": {"source": "folder", "folder": str(photos), "n_train": None, "n_val": 5,
                  "on_corrupt": "skip", "min_size": 20}}))  # 205 training images, 200 of them tuning
    rc, text = dry_run(tmp_path, "--configfile", str(PAPER_CONFIG), str(override))
    assert rc == 0, text
    jobs = planned_jobs(text)
    rules = {j["rule"] for j in jobs}
    assert "prepare_folder" in rules and not rules & {"download_celeba", "prepare_celeba"}
    folder_jobs = [j for j in jobs if j["rule"] == "prepare_folder"]
    assert len(folder_jobs) == len(RESOLUTIONS)  # one per task resolution of the paper config
    [folder_job] = [j for j in folder_jobs if "data/processed/folder/128/train.npy" in j["output"]]
    assert folder_job["output"] == [f"data/processed/folder/128/{f}" for f in STORE_FILES]
    assert f"--folder {shlex.quote(str(photos))}" in folder_job["shell"]
    assert "--n-train all --n-val 5" in folder_job["shell"] and "--on-corrupt skip" in folder_job["shell"]
    assert "--min-size 20" in folder_job["shell"]
    assert_cli_accepts(folder_job["shell"])


def test_folder_source_without_folder_is_refused(tmp_path):
    override = tmp_path / "folder.yaml"
    override.write_text(yaml.safe_dump({"data": {"source": "folder"}}))
    rc, text = dry_run(tmp_path, "--configfile", str(PAPER_CONFIG), str(override))
    assert rc != 0 and "data.folder is not set" in text


def test_mirror_templates_reach_the_command_verbatim(tmp_path):
    """``{name}`` templates (the documented form) must not be read as Snakemake wildcards."""
    override = tmp_path / "mirrors.yaml"
    mirrors = ["http://host/path/{name}", "https://other.example/celeba/", "http://x/{name}?dl=1"]
    override.write_text(yaml.safe_dump({"data": {"celeba": {"mirrors": mirrors, "gdrive": False}}}))
    rc, text = dry_run(tmp_path, "--configfile", str(PAPER_CONFIG), str(override))
    assert rc == 0, text
    [download] = [j for j in planned_jobs(text) if j["rule"] == "download_celeba"]
    args = build_parser().parse_args(shlex.split(re.split(r" 2?> ", download["shell"])[0])[1:])
    assert args.mirror == mirrors and args.gdrive is False
