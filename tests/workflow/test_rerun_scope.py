"""A change to one method's settings reruns only that method's jobs (issue 17): after the tiny
run, ``snakemake -n`` with ``experiment_defaults.outer.lr`` changed plans the meta experiments'
jobs and their dependants, and no job of a classical, UNet or unrolled experiment, nor the
DnCNN; a changed ``description`` plans nothing."""

import re

from .conftest import snakemake

CONFIGS = ("--configfile", "config/quick.yaml", "config/tiny.yaml")


def planned(out: str) -> list[tuple[str, str | None]]:
    """(rule, exp wildcard or None) of every job a dry run lists."""
    jobs, rule = [], None
    for line in out.splitlines():
        head = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if head:
            if rule is not None:
                jobs.append((rule, None))
            rule = head.group(1)
            continue
        exp = re.search(r"\bexp=([\w.-]+)", line)
        if rule is not None and line.strip().startswith("wildcards:"):
            jobs.append((rule, exp.group(1) if exp else None))
            rule = None
    if rule is not None:
        jobs.append((rule, None))
    return jobs


def test_a_meta_setting_reruns_only_meta_jobs_and_a_description_nothing(tiny_run):
    nothing = snakemake(tiny_run, "-n", "--cores", "1", *CONFIGS)
    assert nothing.returncode == 0 and "Nothing to be done" in nothing.stdout + nothing.stderr, nothing.stdout[-2000:]

    (tiny_run / "config" / "lr.yaml").write_text("experiment_defaults:\n  outer: {lr: 2.0e-3}\n")
    proc = snakemake(tiny_run, "-n", "--cores", "1", *CONFIGS, "config/lr.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs = planned(out)
    trained = {exp for rule, exp in jobs if rule == "meta_train"}
    # every meta experiment but meta_random, whose own outer.lr (quick.yaml) wins over the default
    assert {"meta_center_m2", "meta_center_m7", "meta_red_l1"} <= trained and "meta_random" not in trained, jobs
    others = [(rule, exp) for rule, exp in jobs
              if (exp is not None and not exp.startswith("meta_"))
              or rule in ("tune_classical", "train_unet", "train_unrolled", "train_denoiser")]
    assert not others, others

    (tiny_run / "config" / "words.yaml").write_text(
        "experiments:\n  red_12: {description: other words}\n  unet_center: {description: more}\n")
    words = snakemake(tiny_run, "-n", "--cores", "1", *CONFIGS, "config/words.yaml")
    assert "Nothing to be done" in words.stdout + words.stderr, words.stdout[-2000:]
