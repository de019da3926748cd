#!/usr/bin/env python3
"""Share the workflow's artifacts through DVC, and restore them so Snakemake trusts them.

    python workflow/scripts/artifacts.py push [-r REMOTE]
    python workflow/scripts/artifacts.py pull [-r REMOTE] [SNAKEMAKE ARGS, e.g. --configfile config/quick.yaml]

``push`` versions the artifact directories (``dvc add``: hashes every file, caches it,
writes ``<dir>.dvc`` and stages it in git) and uploads them (``dvc push``); commit the staged
``.dvc`` files afterwards so that others can pull exactly this state.

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
still touches what it did restore, then exits with status 1 and says what is missing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

# Directories versioned by DVC, each as one ``<dir>.dvc`` file. Checkpoints (resume state)
# and partial writes are excluded by .dvcignore.
TRACKED_DIRS = ("data/raw", "data/processed", "results")


def _run(cmd: list[str]) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd).returncode


def _dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


def _remote_args(remote: str | None) -> list[str]:
    return ["--remote", remote] if remote else []


def push(remote: str | None) -> int:
    """Version the artifact directories that exist and upload them to the remote."""
    present = [d for d in TRACKED_DIRS if Path(d).is_dir()]
    if not present:
        print(f"nothing to push: none of {', '.join(TRACKED_DIRS)} exists yet", file=sys.stderr)
        return 1
    if status := _run(_dvc("add", *present)):
        return status
    if status := _run(_dvc("push", *_remote_args(remote), *[f"{d}.dvc" for d in present])):
        return status
    print(
        "pushed. Commit the versions so that a clone can pull them:\n"
        f"  git commit -m 'Artifacts' {' '.join(f'{d}.dvc' for d in present)} .gitignore"
    )
    return 0


def pull(remote: str | None, snakemake_args: list[str]) -> int:
    """Download the tracked artifacts, then mark those present as up to date for Snakemake."""
    tracked = [f"{d}.dvc" for d in TRACKED_DIRS if Path(f"{d}.dvc").is_file()]
    if not tracked:
        print("nothing to pull: no artifact directory is versioned yet (no *.dvc file)")
        return 0
    pull_status = _run(_dvc("pull", *_remote_args(remote), *tracked))
    touch_status = _run(
        [sys.executable, "-m", "snakemake", "--touch", "--cores", "1", *snakemake_args]
    )
    if pull_status:
        print(
            "\nERROR: dvc pull could not restore every artifact (see DVC's message above: a\n"
            "file missing from the remote, or one whose content does not match its hash).\n"
            "What was restored is marked up to date; what is missing is rebuilt, with what\n"
            "depends on it, by the next `snakemake` run. `dvc data status` lists it.",
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
    push_parser = sub.add_parser("push", help="dvc add + dvc push the artifact directories")
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
