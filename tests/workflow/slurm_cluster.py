"""A real one-node SLURM cluster on 127.0.0.1, started from Debian packages, for tests.

Everything the cluster writes (munge key and socket, slurm.conf, state, spool, logs, pid
files) lives in one temporary directory, the daemons listen on free ports, and clients find
the cluster through ``SLURM_CONF``, so nothing under ``/etc`` is touched and a system SLURM,
if any, is left alone.

Layout of the node: the hardware line of ``slurmd -C`` plus one count-only GPU GRES
(``gres.conf``: ``File=/dev/null``), so jobs that request ``--gpus=1`` (what the Snakemake
SLURM plugin emits for ``resources: gpu=1``) are scheduled exactly as on a GPU cluster while
the job itself, finding no CUDA device, runs on the CPU.

Two work-arounds, both for test-cluster-only conditions:

* No accounting daemon (slurmdbd + MariaDB costs ~15 s more): ``sacct`` then fails, so the
  Snakemake plugin must be told ``--slurm-status-command squeue``; that is reliable because
  ``MinJobAge=300`` keeps finished jobs visible to ``squeue`` for five minutes.
* ``snakemake-executor-plugin-slurm-jobstep`` (0.6) deletes every ``SLURM_*`` variable,
  ``SLURM_CONF`` included, before the ``srun`` that runs a job inside its allocation. A real
  cluster keeps its config in ``/etc/slurm/slurm.conf`` and does not notice; ours would. The
  cluster therefore puts a two-line ``srun`` shim first on ``PATH`` that restores
  ``SLURM_CONF`` and execs the real ``srun``.

Use from Python (``with LocalSlurmCluster.start() as cluster: cluster.env`` ...) or from a
shell, to experiment by hand::

    python tests/workflow/slurm_cluster.py      # prints the environment, Ctrl-C stops it
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DEBIAN_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
REQUIRED_BINARIES = (
    "/usr/sbin/munged",
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
    "/usr/bin/sbatch",
    "/usr/bin/srun",
    "/usr/bin/squeue",
    "/usr/bin/scancel",
    "/usr/bin/sinfo",
)
PARTITION = "debug"
CLUSTER_NAME = "metainvtest"


class SlurmUnavailable(RuntimeError):
    """This machine cannot run a SLURM cluster (a reason to skip, never to fail)."""


def _run(cmd: list[str], timeout_s: float, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` under ``timeout -k`` so that no step of the set-up can hang the tests."""
    bounded = ["timeout", "-k", "10", str(int(timeout_s)), *cmd]
    return subprocess.run(bounded, capture_output=True, text=True, **kwargs)


def ensure_slurm_installed(timeout_s: float = 300) -> None:
    """Install the Debian packages of SLURM and munge unless their binaries are all present.

    Raises ``SlurmUnavailable`` where the machine cannot (not Linux, not root, no apt-get);
    a failing ``apt-get`` on a machine that can install is a real error (``RuntimeError``).
    """
    if not sys.platform.startswith("linux"):
        raise SlurmUnavailable(f"SLURM test cluster needs Linux, this is {sys.platform}")
    if all(Path(b).exists() for b in REQUIRED_BINARIES):
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable("SLURM is not installed and installing it needs root")
    if shutil.which("apt-get") is None:
        raise SlurmUnavailable("SLURM is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *DEBIAN_PACKAGES],
    ):
        proc = _run(cmd, timeout_s, env=env)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                f"\n{proc.stderr[-2000:]}"
            )
    missing = [b for b in REQUIRED_BINARIES if not Path(b).exists()]
    if missing:
        raise RuntimeError(f"apt-get installed {DEBIAN_PACKAGES} but {missing} are missing")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_hardware() -> str:
    """The hardware description of this machine as ``slurmd -C`` prints it, minus the name."""
    proc = _run(["/usr/sbin/slurmd", "-C"], 30)
    if proc.returncode != 0:
        raise RuntimeError(f"slurmd -C failed: {proc.stderr}")
    first_line = proc.stdout.splitlines()[0]
    return " ".join(tok for tok in first_line.split() if not tok.startswith("NodeName="))


def _wait_until(predicate, timeout_s: float, what: str, log_files: list[Path]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    tails = "\n".join(
        f"--- {p}:\n" + "\n".join(p.read_text(errors="replace").splitlines()[-20:])
        for p in log_files
        if p.exists()
    )
    raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}\n{tails}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _terminate(pids: list[int], timeout_s: float) -> None:
    """SIGTERM the given daemons together, SIGKILL whichever outlives ``timeout_s``."""
    alive = [pid for pid in pids if _pid_alive(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_pid_alive(pid) for pid in alive):
        time.sleep(0.05)
    for pid in alive:
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


@dataclass
class LocalSlurmCluster:
    """A running one-node cluster: ``env`` is what a client (sbatch, snakemake) needs."""

    root: Path
    node_name: str
    partition: str = PARTITION
    env: dict[str, str] = field(default_factory=dict)
    _pid_files: list[Path] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def log_files(self) -> list[Path]:
        return sorted((self.root / "log").glob("*.log"))

    @classmethod
    def start(cls, timeout_s: float = 60) -> "LocalSlurmCluster":
        """Install if needed, write the configuration, start munged, slurmctld and slurmd.

        Returns once the node is idle and accepts jobs; on any failure the daemons already
        started are stopped before the error propagates.
        """
        ensure_slurm_installed()
        if os.geteuid() != 0:
            raise SlurmUnavailable("starting slurmd (SlurmdUser=root) needs root")
        try:
            pwd.getpwnam("munge")
        except KeyError as err:
            raise RuntimeError("the munge package did not create the 'munge' user") from err
        root = Path(tempfile.mkdtemp(prefix="metainv-slurm-"))
        root.chmod(0o755)  # munged (user munge) must reach its socket directory
        node_name = socket.gethostname().split(".")[0]
        cluster = cls(root=root, node_name=node_name)
        try:
            cluster._start_daemons(timeout_s)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start_daemons(self, timeout_s: float) -> None:
        root = self.root
        for sub in ("state", "spool", "log", "bin"):
            (root / sub).mkdir()
        munge_dir = root / "munge"
        munge_dir.mkdir(mode=0o755)
        key = munge_dir / "munge.key"
        with os.fdopen(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(os.urandom(1024))  # this cluster's own key, readable by munge only
        munge = pwd.getpwnam("munge")
        for p in (munge_dir, key):
            os.chown(p, munge.pw_uid, munge.pw_gid)
        socket_path = munge_dir / "munge.socket"
        munged_pid = munge_dir / "munged.pid"
        self._pid_files.append(munged_pid)
        proc = _run(
            [
                "runuser", "-u", "munge", "--", "/usr/sbin/munged",
                f"--socket={socket_path}", f"--key-file={key}", f"--pid-file={munged_pid}",
                f"--log-file={munge_dir / 'munged.log'}", f"--seed-file={munge_dir / 'seed'}",
            ],
            30,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"munged failed to start: {proc.stderr}")

        hardware = _node_hardware()
        ctld_port, slurmd_port = _free_port(), _free_port()
        self.conf.write_text(
            f"""\
ClusterName={CLUSTER_NAME}
SlurmctldHost={self.node_name}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket_path}
StateSaveLocation={root / 'state'}
SlurmdSpoolDir={root / 'spool'}
SlurmctldPidFile={root / 'slurmctld.pid'}
SlurmdPidFile={root / 'slurmd.pid'}
SlurmctldLogFile={root / 'log' / 'slurmctld.log'}
SlurmdLogFile={root / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, one job would be given the memory of the whole node
DefMemPerCPU=256
# finished jobs stay visible to squeue (the status command without slurmdbd) for 5 min
MinJobAge=300
ReturnToService=2
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
NodeName={self.node_name} NodeAddr=127.0.0.1 {hardware} Gres=gpu:1 State=UNKNOWN
PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
        )
        # a count-only GPU: scheduled like a real one, no device behind it
        (root / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName={self.node_name} Name=gpu File=/dev/null\n"
        )
        srun_shim = root / "bin" / "srun"
        srun_shim.write_text(f'#!/bin/sh\nexport SLURM_CONF="{self.conf}"\nexec /usr/bin/srun "$@"\n')
        srun_shim.chmod(0o755)
        self.env = {
            **os.environ,
            "SLURM_CONF": str(self.conf),
            "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for daemon in ("slurmctld", "slurmd"):
            self._pid_files.append(root / f"{daemon}.pid")
            proc = _run([f"/usr/sbin/{daemon}"], 30, env=self.env)
            if proc.returncode != 0:
                raise RuntimeError(f"{daemon} failed to start: {proc.stderr}")
        _wait_until(self._node_idle, timeout_s, "the node to become idle", self.log_files)

    def _node_idle(self) -> bool:
        proc = _run(["sinfo", "-h", "-N", "-o", "%T"], 10, env=self.env)
        return proc.returncode == 0 and proc.stdout.strip() == "idle"

    def run(self, *cmd: str, timeout_s: float = 30) -> subprocess.CompletedProcess:
        """Run a SLURM client command (``squeue``, ``scancel`` ...) against this cluster."""
        return _run(list(cmd), timeout_s, env=self.env)

    def stop(self, timeout_s: float = 20) -> None:
        """Cancel every job, stop the daemons this cluster started (by pid), remove its files."""
        if self.env and self._controller_alive():
            self.run("scancel", "--full", "--user", pwd.getpwuid(os.geteuid()).pw_name)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and self.run(
                "squeue", "-h", "-t", "RUNNING,COMPLETING"
            ).stdout.strip():
                time.sleep(0.25)
        slurm_daemons = [p for p in self._pid_files if p.name != "munged.pid"]
        munged = [p for p in self._pid_files if p.name == "munged.pid"]
        for group in (slurm_daemons, munged):  # munge last: slurm talks through it
            _terminate([pid for p in group if (pid := _read_pid(p)) is not None], timeout_s)
        shutil.rmtree(self.root, ignore_errors=True)

    def _controller_alive(self) -> bool:
        pid = _read_pid(self.root / "slurmctld.pid")
        return pid is not None and _pid_alive(pid)

    def __enter__(self) -> "LocalSlurmCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    with LocalSlurmCluster.start() as cluster:
        print(f"export SLURM_CONF={cluster.conf}")
        print(f"export PATH={cluster.root / 'bin'}:$PATH")
        print("cluster up; Ctrl-C stops it", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
