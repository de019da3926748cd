"""CelebA: download (mirrors → Google Drive → files already placed), verify, read, prepare.

The six files of the aligned-and-cropped CelebA release (Liu et al., ICCV 2015), with the
Google Drive ids and md5 sums that torchvision's ``CelebA`` dataset lists, are in
:data:`CELEBA_FILES`. :func:`download_celeba` makes every one of them present and verified
in ``raw_dir`` (``data/raw/celeba/`` in the workflow):

1. a file already in ``raw_dir`` whose md5 matches is used as is (never re-downloaded);
2. otherwise each plain HTTP(S) mirror is tried in the order given, then Google Drive.

The transport is :mod:`metainv.data.transport`: mirrors through its resumable HTTP
download, Google Drive through ``gdown``; both resume an interrupted transfer, check the md5
and only then rename the file to ``<name>``, and never save an HTML page as the file. When
every source fails the :class:`DownloadError` lists what was tried and how to place the
files by hand.

Images are read straight out of ``img_align_celeba.zip`` by :class:`CelebAImages` (no
extraction of 202,599 files), or from an already extracted ``img_align_celeba/`` folder.
"""

from __future__ import annotations

import logging
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import requests

from metainv.specs.config import Celeba, Data
from metainv.atomic import write_text
from metainv.data.preprocess import Crop, OnCorrupt, build_store, selection_order
from metainv.data.transport import (  # noqa: F401  (md5_file, NotTheFileError: re-exported)
    NotTheFileError,
    SourceError,
    download_gdrive,
    download_url,
    md5_file,
)

from metainv.errors import MetainvError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset release: its name, Google Drive id and md5 sum."""

    name: str
    gdrive_id: str
    md5: str


#: The CelebA release as torchvision lists it (``torchvision.datasets.CelebA.file_list``).
CELEBA_FILES: tuple[RemoteFile, ...] = (
    RemoteFile("img_align_celeba.zip", "0B7EVK8r0v71pZjFTYXZWM3FlRnM", "00d2c5bc6d35e252742224ab0c1e8fcb"),
    RemoteFile("list_eval_partition.txt", "0B7EVK8r0v71pY0NSMzRuSXJEVkk", "d32c9cbf5e040fd4025c592c306e6668"),
    RemoteFile("list_attr_celeba.txt", "0B7EVK8r0v71pblRyaVFSWGxPY0U", "75e246fa4810816ffd6ee81facbd244c"),
    RemoteFile("identity_CelebA.txt", "1_ee_0u7vcNLOfNLegJRHmolfH5ICW-XS", "32bd1bd63d3c78cd57e08160ec5ed1e2"),
    RemoteFile("list_bbox_celeba.txt", "0B7EVK8r0v71pbThiMVRxWXZ4dU0", "00566efa6fedff7a56946cd1c10f1c16"),
    RemoteFile("list_landmarks_align_celeba.txt", "0B7EVK8r0v71pd0FJY3Blby1HUTQ", "cc24ecafdb5b50baae59b03474781f8c"),
)

ARCHIVE = "img_align_celeba.zip"
IMAGE_DIR = "img_align_celeba"
PARTITION_FILE = "list_eval_partition.txt"
#: Written by :func:`download_celeba` once every file is verified (``md5sum -c`` format); the
#: workflow's ``download_celeba`` rule declares only this file as output, so a failed run
#: never makes Snakemake delete the large files already downloaded.
CHECKSUMS_FILE = "checksums.md5"
#: ``list_eval_partition.txt`` codes → split names.
PARTITION_CODES = {0: "train", 1: "valid", 2: "test"}
#: images per split of the official partition (the store's train and val splits draw from
#: train and valid); plan-time checks of data.n_train / data.n_val use them
PARTITION_SIZES = {"train": 162_770, "valid": 19_867, "test": 19_962}


class DownloadError(MetainvError, RuntimeError):
    """No source could deliver a verified copy of one or more files."""


# ----------------------------------------------------------------------------- orchestration

def mirror_url(mirror: str, name: str) -> str:
    """URL of ``name`` on a mirror: ``{name}`` in the mirror is replaced, else appended."""
    return mirror.format(name=name) if "{name}" in mirror else mirror.rstrip("/") + "/" + name


def manual_instructions(raw_dir: Path, files: Sequence[RemoteFile]) -> str:
    lines = [
        f"To place the files by hand, download them (e.g. from the CelebA page "
        f"https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, 'Align&Cropped Images' and "
        f"'Anno'/'Eval') into {raw_dir}/ with exactly these names and md5 sums:",
    ]
    lines += [f"  {f.md5}  {f.name}" for f in files]
    lines.append("then rerun; files already there are verified and never downloaded again.")
    return "\n".join(lines)


def download_celeba(
    raw_dir: str | Path,
    mirrors: Sequence[str] = (),
    use_gdrive: bool = True,
    *,
    files: Sequence[RemoteFile] = CELEBA_FILES,
    gdrive_proxy: str | None = None,
    gdrive_verify: bool | str = True,
    retries: int = Celeba.model_fields["retries"].default,
    backoff: float = 1.0,
    timeout: float = Celeba.model_fields["timeout"].default,
    progress: bool = True,
) -> dict[str, Path]:
    """Make every file of ``files`` present in ``raw_dir`` with its md5; return name → path.

    Sources per file, in order: the file already in ``raw_dir`` (if its md5 matches), each
    URL of ``mirrors`` (``{name}`` substituted or the name appended), then Google Drive when
    ``use_gdrive``. ``files`` defaults to the real CelebA table; tests pass their own md5s,
    and reach Drive through a local proxy (``gdrive_proxy``, CA bundle ``gdrive_verify``).
    """
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    done: dict[str, Path] = {}
    failures: dict[str, list[str]] = {}
    with requests.Session() as session:
        for spec in files:
            dest = raw_dir / spec.name
            tried: list[str] = []
            if dest.exists():
                got = md5_file(dest)
                if got == spec.md5:
                    log.info("%s: present and verified", dest)
                    done[spec.name] = dest
                    continue
                tried.append(f"local file {dest}: md5 {got} != {spec.md5} (will be replaced)")
            kw = dict(session=session, retries=retries, backoff=backoff, timeout=timeout,
                      progress=progress)
            sources: list[tuple[str, Callable[[], Path]]] = [
                (f"mirror {mirror_url(m, spec.name)}",
                 lambda m=m: download_url(mirror_url(m, spec.name), dest, spec.md5, **kw))
                for m in mirrors
            ]
            if use_gdrive:
                sources.append((f"Google Drive id {spec.gdrive_id}",
                                lambda: download_gdrive(spec.gdrive_id, dest, spec.md5,
                                                        proxy=gdrive_proxy, verify=gdrive_verify,
                                                        **kw)))
            for label, fetch in sources:
                try:
                    log.info("%s: trying %s", spec.name, label)
                    done[spec.name] = fetch()
                    break
                except (SourceError, requests.RequestException, OSError) as e:
                    tried.append(f"{label}: {e}")
                    log.warning("%s: %s failed: %s", spec.name, label, e)
            else:
                if not sources:
                    tried.append("no mirrors configured and Google Drive disabled")
                failures[spec.name] = tried
    if failures:
        report = "\n".join(
            f"- {name}:\n" + "\n".join(f"    {t}" for t in tried) for name, tried in failures.items()
        )
        raise DownloadError(
            f"could not obtain {len(failures)} CelebA file(s); sources tried:\n{report}\n"
            + manual_instructions(raw_dir, [f for f in files if f.name in failures])
        )
    write_checksums(raw_dir, files)
    return done


def write_checksums(raw_dir: str | Path, files: Sequence[RemoteFile]) -> Path:
    """Write ``checksums.md5`` ("<md5>  <name>" lines, ``md5sum -c`` format) atomically."""
    path = Path(raw_dir) / CHECKSUMS_FILE
    write_text(path, "".join(f"{f.md5}  {f.name}\n" for f in files))
    return path


# ----------------------------------------------------------------------------- reading

def read_partition(path: str | Path) -> dict[str, list[str]]:
    """Parse ``list_eval_partition.txt`` ("<image> <0|1|2>") into {"train"|"valid"|"test": names}."""
    splits: dict[str, list[str]] = {name: [] for name in PARTITION_CODES.values()}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            name, code = line.split()
            splits[PARTITION_CODES[int(code)]].append(name)
        except (ValueError, KeyError) as e:
            raise ValueError(f"{path}:{lineno}: expected '<image> <0|1|2>', got {line!r}") from e
    return splits


class CelebAImages:
    """Read CelebA JPEG bytes by file name from the zip (or an extracted folder).

    Thread-safe: one ``ZipFile`` handle per thread, so several threads decode in parallel.
    """

    def __init__(self, raw_dir: str | Path):
        self.raw_dir = Path(raw_dir)
        self.archive = self.raw_dir / ARCHIVE
        self.folder = self.raw_dir / IMAGE_DIR
        if not self.archive.exists() and not self.folder.is_dir():
            raise FileNotFoundError(
                f"neither {self.archive} nor {self.folder}/ exists; run `metainv download-celeba`"
            )
        self._local = threading.local()
        self._zips: list[zipfile.ZipFile] = []
        self._lock = threading.Lock()
        if self.archive.exists():
            with zipfile.ZipFile(self.archive) as zf:
                self._members = {
                    Path(n).name: n for n in zf.namelist() if n.lower().endswith((".jpg", ".jpeg"))
                }
            if not self._members:
                raise ValueError(f"{self.archive}: no JPEG members")

    @property
    def source(self) -> Path:
        return self.archive if self.archive.exists() else self.folder

    def _zip(self) -> zipfile.ZipFile:
        zf = getattr(self._local, "zf", None)
        if zf is None:
            zf = zipfile.ZipFile(self.archive)
            self._local.zf = zf
            with self._lock:
                self._zips.append(zf)
        return zf

    def __contains__(self, name: str) -> bool:
        if self.archive.exists():
            return name in self._members
        return (self.folder / name).is_file()

    def read_bytes(self, name: str) -> bytes:
        if self.archive.exists():
            try:
                member = self._members[name]
            except KeyError:
                raise FileNotFoundError(f"{self.archive}: no member {IMAGE_DIR}/{name}") from None
            return self._zip().read(member)
        return (self.folder / name).read_bytes()

    def close(self) -> None:
        with self._lock:
            for zf in self._zips:
                zf.close()
            self._zips.clear()

    def __enter__(self) -> "CelebAImages":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def verify_files(raw_dir: str | Path, files: Iterable[RemoteFile]) -> dict[str, str]:
    """Check md5 of each file in ``raw_dir``; return name → md5 or raise naming the bad file."""
    out = {}
    for spec in files:
        path = Path(raw_dir) / spec.name
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; run `metainv download-celeba`")
        got = md5_file(path)
        if got != spec.md5:
            raise ValueError(f"{path}: md5 {got} != expected {spec.md5}; delete it and download again")
        out[spec.name] = got
    return out


# ----------------------------------------------------------------------------- preparation

def prepare_celeba(
    raw_dir: str | Path,
    out_dir: str | Path,
    resolution: int,
    n_train: int | None = 150_000,
    n_val: int | None = Data.model_fields["n_val"].default,
    seed: int = 0,
    crop: Crop = 178,
    on_corrupt: OnCorrupt = Data.model_fields["on_corrupt"].default,
    *,
    files: Sequence[RemoteFile] | None = None,
    verify_md5: bool = True,
    workers: int | None = None,
    chunk_size: int = 256,
    progress: bool = True,
    min_size: int | None = None,
) -> Path:
    """Build ``out_dir`` (train/val uint8 arrays + manifest) from the CelebA files in ``raw_dir``.

    Train images come from the official partition's train split (code 0), validation images
    from its valid split (code 1), ``n_train`` / ``n_val`` of them chosen by
    :func:`selection_order`. Images are read from ``img_align_celeba.zip`` (or an extracted
    ``img_align_celeba/``). ``verify_md5`` checks the archive and partition file against
    ``files`` (default: the real table) before use.
    """
    files = CELEBA_FILES if files is None else files
    raw_dir = Path(raw_dir)
    wanted = {PARTITION_FILE, ARCHIVE}
    if not (raw_dir / ARCHIVE).exists():
        wanted.discard(ARCHIVE)
        log.warning("%s missing; reading the extracted %s/ (its files cannot be md5-checked)",
                    raw_dir / ARCHIVE, raw_dir / IMAGE_DIR)
    md5s = verify_files(raw_dir, [f for f in files if f.name in wanted]) if verify_md5 else {}
    partition = read_partition(raw_dir / PARTITION_FILE)
    with CelebAImages(raw_dir) as images:
        missing = [n for n in partition["train"] + partition["valid"] if n not in images]
        if missing:
            raise FileNotFoundError(f"{images.source}: {len(missing)} images of the partition "
                                    f"are missing, e.g. {missing[:3]}")
        return build_store(
            out_dir, "celeba",
            {"val": (selection_order(partition["valid"], n_val, seed, "val"), n_val),
             "train": (selection_order(partition["train"], n_train, seed, "train"), n_train)},
            images.read_bytes, resolution, crop, on_corrupt,
            workers=workers, chunk_size=chunk_size, progress=progress, min_size=min_size,
            source="celeba",
            source_files={name: md5s.get(name) for name in sorted(wanted)},
            image_source=images.source.name,
            partition={"train": "list_eval_partition.txt code 0 (train)",
                       "val": "list_eval_partition.txt code 1 (valid)"},
            seed=int(seed),
            requested={"n_train": n_train, "n_val": n_val},
            created_by="metainv.data.celeba.prepare_celeba",
        )
