"""Atomic, reproducible file writes: the one way every output of the package is written.

Each writer opens a temporary file in the destination's own directory
(``<name>.<pid>.tmp``: same file system, so the rename is atomic; one per process, so two
concurrent writers never share it; ``*.tmp`` is in ``.dvcignore``), writes, flushes and
fsyncs it, then ``os.replace``-s it over the destination. A failure (an exception, a full
disk) removes the temporary file and leaves the previous file untouched; a ``kill -9``
leaves at most a stale ``*.tmp`` beside it, never a truncated output, and the next writer of
that file removes it (:func:`remove_stale_temps`: only files whose pid is no longer running on
this machine, so a live writer's file is never touched). A full disk (``ENOSPC``, or a quota:
``EDQUOT``) is reported as :class:`DiskFullError`, naming the file.

Writers that embed volatile metadata do not here: PNGs carry no ``Software`` text, and
``.npz`` archives fixed zip timestamps, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator

import numpy as np

from metainv.errors import MetainvError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: zip timestamp of every ``.npz`` member (the zip epoch), so archives are reproducible.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: errnos that mean "no room left": a full file system or an exhausted quota.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)

log = logging.getLogger(__name__)


class DiskFullError(MetainvError, OSError):
    """A write ran out of space (``ENOSPC``/``EDQUOT``); the message names the file. The file's
    previous version (if any) is untouched and no temporary file is left. ``errno`` and
    ``filename`` are set as for the OSError behind it; ``str()`` is the message alone."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def temp_path(path: str | Path) -> Path:
    """The temporary name :func:`atomic_open` writes ``path`` under."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (``kill(pid, 0)``: signal 0 only checks)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove ``<name>.<pid>.tmp`` files of ``path`` left by processes that no longer run (a
    ``kill -9`` mid-write); a temp file whose pid is alive (another writer, right now) stays.
    Returns the removed paths."""
    path = Path(path)
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)\.tmp")
    removed = []
    try:
        siblings = list(path.parent.iterdir())
    except FileNotFoundError:
        return removed
    for other in siblings:
        match = pattern.fullmatch(other.name)
        if match is None or int(match.group(1)) == os.getpid() or pid_alive(int(match.group(1))):
            continue
        try:
            other.unlink()
        except FileNotFoundError:  # another writer removed it first
            continue
        log.info("removed %s, a temporary file left by process %s, which no longer runs", other, match.group(1))
        removed.append(other)
    return removed


def _disk_full(exc: BaseException) -> OSError | None:
    """The ``ENOSPC``/``EDQUOT`` error behind ``exc`` (itself, its cause or its context: some
    serialisers wrap the OSError of the file object they write to), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` that only replaces ``path`` when the ``with`` block succeeds.

    ``mode`` is ``"w"``/``"wb"`` (text files get ``newline=""`` unless given, so what is
    written is what lands on disk). On any exception the temporary file is removed and the
    exception propagates (a full disk as :class:`DiskFullError`); the previous ``path`` (if
    any) is untouched. Stale temporary files of ``path`` from dead processes are removed first.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp = temp_path(path)
    if mode == "w":
        kwargs.setdefault("newline", "")
        kwargs.setdefault("encoding", "utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        full = _disk_full(e)
        if full is not None:
            err = DiskFullError(f"{path}: disk full ({os.strerror(full.errno)}) while writing it; nothing "
                                "was written (a previous version, if any, is untouched). Free some "
                                "space and run again.")
            err.errno, err.filename = full.errno, str(path)
            raise err from e
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)


def write_json(path: str | Path, obj: Any, indent: int = 1, sort_keys: bool = False, **kwargs: Any) -> Path:
    """``json.dumps(obj)`` written atomically (``indent=1`` as every JSON output of the package)."""
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, **kwargs))


def write_csv(path: str | Path, frame: pd.DataFrame, **kwargs: Any) -> Path:
    """``frame.to_csv(path, index=False)`` written atomically."""
    kwargs.setdefault("index", False)
    with atomic_open(path, "w") as f:
        frame.to_csv(f, **kwargs)
    return Path(path)


def save_figure(fig: Figure, path: str | Path, **kwargs: Any) -> Path:
    """``fig.savefig`` written atomically; the format is the suffix of ``path``.

    PNGs (and PDFs/SVGs) get no ``Software``/creation-date metadata, so a figure drawn from
    the same numbers is byte-identical.
    """
    path = Path(path)
    fmt = kwargs.pop("format", path.suffix.lstrip(".").lower() or "png")
    metadata = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
                "svg": {"Creator": None, "Date": None}}.get(fmt)
    if metadata is not None:
        kwargs.setdefault("metadata", metadata)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format=fmt, **kwargs)
    return path


def torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` written atomically."""
    import torch

    with atomic_open(path, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def save_npy(path: str | Path, array: np.ndarray) -> Path:
    """``np.save`` written atomically."""
    with atomic_open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
    return Path(path)


def write_npz(path: str | Path, compress: bool = True, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` written atomically and reproducibly (fixed member timestamps:
    numpy stamps each member with the current time, so two identical archives would differ)."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with atomic_open(path, "wb") as f, zipfile.ZipFile(f, "w", compression=method) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
            info.compress_type = method
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return Path(path)


__all__ = ["atomic_open", "temp_path", "remove_stale_temps", "pid_alive", "DiskFullError", "DISK_FULL_ERRNOS",
           "write_bytes", "write_text", "write_json", "write_csv", "save_figure",
           "torch_save", "save_npy", "write_npz"]
