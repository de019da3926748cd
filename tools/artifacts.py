#!/usr/bin/env python3
"""Share the workflow's artifacts through DVC, and restore them so Snakemake trusts them.

    python tools/artifacts.py push [-r REMOTE]
    python tools/artifacts.py pull [-r REMOTE] [SNAKEMAKE ARGS, e.g. --configfile config/quick.yaml]

``push`` versions ``data/raw``, ``data/processed``, every ``results/<task>/<experiment>``,
``results/tables``, ``results/figures``, ``results/claims``, ``results/step_curves`` and ``results/capacity`` with ``dvc add`` (hashes every file, caches it,
writes the pointer ``<dir>.dvc`` beside the directory and stages it in git), then uploads
them (``dvc push``). Commit the staged pointers afterwards so that a clone can pull exactly
this state.

``pull`` downloads the artifacts of the checked-out commit (``dvc pull``), then runs
``snakemake --touch`` with the given arguments. Why: DVC restores contents, not
modification times, so after a pull the files carry the order in which DVC happened to write
them and Snakemake's mtime trigger would rerun much of the workflow. The artifacts of one
commit were produced together and are consistent by construction, so ``--touch`` marks them
up to date, touching outputs in DAG order (inputs before outputs). Files that could not be
pulled are left missing (``--touch`` skips missing outputs) and the next ``snakemake`` run
rebuilds them and what depends on them. Pass the same ``--configfile`` (and targets) as the
runs you mean to continue: ``--touch`` only sees the DAG of those.

A pull that cannot restore everything (an object missing from the remote, or corrupt: the
default remote sets ``verify = true``, so DVC checks every downloaded file against its hash)
still places and touches every unit that arrived whole, never a corrupt file, then exits with
status 1 naming the units it could not restore.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

# The units DVC versions, each as one pointer ``<dir>.dvc`` beside the directory (see
# .gitignore): a unit is pulled whole or not at all, so a corrupt or missing file costs the
# rebuild of its unit only. Units: every subdirectory of data/ (raw, processed), the flat
# report folders, and every results/<task>/<experiment>/. Checkpoints (resume state) and
# partial writes are excluded by .dvcignore.
DATA = Path("data")
RESULTS = Path("results")
FLAT_RESULT_DIRS = ("tables", "figures", "claims", "step_curves", "capacity")


def artifact_dirs() -> list[str]:
    """The directories ``push`` versions (those that exist)."""
    units = [d for d in DATA.glob("*/") if d.is_dir()]
    for sub in (d for d in RESULTS.glob("*/") if d.is_dir()):
        if sub.name in FLAT_RESULT_DIRS:
            units.append(sub)
        else:
            units += [d for d in sub.glob("*/") if d.is_dir()]
    return sorted(map(str, units))


def pointers() -> list[str]:
    """The DVC pointers of the artifact directories versioned in this checkout."""
    patterns = ("data/*.dvc", "results/*.dvc", "results/*/*.dvc")
    return sorted(str(p) for pattern in patterns for p in Path().glob(pattern))


def _run(cmd: list[str]) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd).returncode


def _dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def _remote_args(remote: str | None) -> list[str]:
    return ["--remote", remote] if remote else []


def push(remote: str | None) -> int:
    """Version the artifact directories and upload them to the remote."""
    dirs = artifact_dirs()
    if not dirs:
        print("nothing to push: data/ and results/ hold no output yet", file=sys.stderr)
        return 1
    if status := _run(_dvc("add", *dirs)):
        return status
    if status := _run(_dvc("push", *_remote_args(remote), *[f"{d}.dvc" for d in dirs])):
        return status
    print(
        "pushed. Commit the pointers so that a clone can pull this state:\n"
        f"  git commit -m 'Artifacts' {' '.join(f'{d}.dvc' for d in dirs)}"
    )
    return 0


def pull(remote: str | None, snakemake_args: list[str]) -> int:
    """Download the versioned artifacts, then mark those present as up to date for Snakemake."""
    targets = pointers()
    if not targets:
        print("nothing to pull: no artifact directory is versioned in this checkout (no *.dvc)")
        return 0
    pull_status = _run(_dvc("pull", *_remote_args(remote), *targets))
    if pull_status:
        # A missing object makes `dvc pull` stop before placing anything; place every unit
        # whose objects did arrive (DVC fetched them into its cache), unit by unit.
        _run(_dvc("checkout", *targets))
    touch_status = _run(
        [sys.executable, "-m", "snakemake", "--touch", "--cores", "1", *snakemake_args]
    )
    if pull_status:
        lost = [t.removesuffix(".dvc") for t in targets if not Path(t.removesuffix(".dvc")).exists()]
        print(
            "\nERROR: dvc pull could not restore every artifact: an object is missing from the\n"
            "remote or its content does not match its hash (DVC's messages above). Not restored:\n"
            + "".join(f"  {d}\n" for d in lost)
            + "What was restored is marked up to date; the next `snakemake` run rebuilds what is\n"
            "missing together with everything that depends on it.",
            file=sys.stderr,
        )
        return 1
    if touch_status:
        print("ERROR: snakemake --touch failed (see above)", file=sys.stderr)
        return touch_status
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    push_parser = sub.add_parser("push", help="dvc add + dvc push data/* and results/<task>/<experiment>, tables, figures")
    push_parser.add_argument("-r", "--remote", help="DVC remote (default: the configured one)")
    pull_parser = sub.add_parser(
        "pull", help="dvc pull, then snakemake --touch; other arguments go to snakemake"
    )
    pull_parser.add_argument("-r", "--remote", help="DVC remote (default: the configured one)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "push":
        if rest:
            parser.error(f"push takes no snakemake arguments: {rest}")
        return push(args.remote)
    return pull(args.remote, rest)


if __name__ == "__main__":
    sys.exit(main())
