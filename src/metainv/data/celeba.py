"""CelebA acquisition: download (mirrors → Google Drive → files already placed), verify, read.

The six files of the aligned-and-cropped CelebA release (Liu et al., ICCV 2015), with the
Google Drive ids and md5 sums that torchvision's ``CelebA`` dataset lists, are in
:data:`CELEBA_FILES`. :func:`download_celeba` makes every one of them present and verified
in ``raw_dir`` (``data/raw/celeba/`` in the workflow):

1. a file already in ``raw_dir`` whose md5 matches is used as is (never re-downloaded);
2. otherwise each plain HTTP(S) mirror is tried in the order given, then Google Drive.

Every transfer streams into ``<name>.part`` (resumed with an HTTP ``Range`` request after a
dropped connection, retried with exponential backoff), is checked against its md5, and only
then renamed atomically to ``<name>``; an HTML page (Drive's quota or virus-scan pages, a
mirror's error page) is recognised and never saved as the file. When every source fails the
:class:`DownloadError` lists what was tried and how to place the files by hand.

Images are read straight out of ``img_align_celeba.zip`` by :class:`CelebAImages` (no
extraction of 202,599 files), or from an already extracted ``img_align_celeba/`` folder.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import re
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import requests
from tqdm.auto import tqdm

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

GDRIVE_URL = "https://drive.usercontent.google.com/download"
USER_AGENT = "metainv-data/0.1 (+https://github.com/; python-requests)"


class DownloadError(MetainvError, RuntimeError):
    """No source could deliver a verified copy of one or more files."""


class SourceError(RuntimeError):
    """One source failed for one file (the next source is then tried)."""


class NotTheFileError(SourceError):
    """The server answered with something that is not the file (an HTML page)."""


def md5_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _looks_like_html(first_bytes: bytes) -> bool:
    head = first_bytes[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def download_url(
    url: str,
    dest: str | Path,
    md5: str | None,
    *,
    session: requests.Session | None = None,
    params: Mapping[str, str] | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    chunk_size: int = 1 << 16,
    progress: bool = True,
) -> Path:
    """Fetch ``url`` into ``dest``: resumable, retried, md5-checked, renamed atomically.

    Bytes go to ``dest.part``. A dropped connection is resumed with ``Range: bytes=<n>-``
    (a server that ignores the range and answers 200 restarts the file). Up to ``retries``
    attempts, sleeping ``backoff * 2**k`` seconds between them. A response that is an
    HTML page raises :class:`NotTheFileError`; an md5 mismatch deletes the partial file and
    raises :class:`SourceError`. Only a verified file is renamed to ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    own_session = session is None
    session = session or requests.Session()
    session.headers.setdefault("User-Agent", USER_AGENT)
    last_error: Exception | None = None
    try:
        for attempt in range(retries):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            offset = part.stat().st_size if part.exists() else 0
            # identity encoding: byte ranges then count the file's own bytes, not gzip's
            headers = {"Accept-Encoding": "identity"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
            try:
                with session.get(url, params=params, headers=headers, stream=True,
                                 timeout=timeout) as r:
                    if r.status_code == 416 and offset:  # range beyond the end: partial is complete or stale
                        if md5 is None or md5_file(part) == md5:
                            break
                        part.unlink()
                        continue
                    if r.status_code >= 400:
                        err = SourceError(f"HTTP {r.status_code} from {r.url}")
                        if r.status_code in (404, 403, 401, 410):
                            raise err  # permanent: retrying will not help
                        last_error = err
                        continue
                    resumed = r.status_code == 206 and offset > 0
                    if offset and not resumed:
                        log.info("%s: server ignored the Range request; restarting", url)
                    total = _total_size(r, offset if resumed else 0)
                    mode = "ab" if resumed else "wb"
                    with open(part, mode) as f, tqdm(
                        total=total, initial=offset if resumed else 0, unit="B", unit_scale=True,
                        desc=dest.name, disable=not progress, leave=False,
                    ) as bar:
                        first = True
                        for block in r.iter_content(chunk_size):
                            if first and not resumed:
                                first = False
                                if _looks_like_html(block):
                                    raise NotTheFileError(
                                        f"{r.url} answered with an HTML page, not {dest.name}: "
                                        f"{_html_summary(block)}"
                                    )
                            f.write(block)
                            bar.update(len(block))
                break
            except NotTheFileError:
                part.unlink(missing_ok=True)
                raise
            except SourceError:
                raise
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as e:
                last_error = e
                log.warning("%s: attempt %d/%d failed (%s)", url, attempt + 1, retries, e)
        else:
            raise SourceError(f"{url}: gave up after {retries} attempts ({last_error})")
        if md5 is not None:
            got = md5_file(part)
            if got != md5:
                part.unlink(missing_ok=True)
                raise SourceError(f"{url}: md5 {got} != expected {md5}; partial file deleted")
        os.replace(part, dest)
        return dest
    finally:
        if own_session:
            session.close()


def _total_size(r: requests.Response, offset: int) -> int | None:
    length = r.headers.get("Content-Length")
    return int(length) + offset if length and length.isdigit() else None


def _html_summary(block: bytes) -> str:
    text = block.decode("utf-8", "replace")
    title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
    return html.unescape(title.group(1).strip()) if title else text[:120].replace("\n", " ")


# ----------------------------------------------------------------------------- Google Drive

_QUOTA_PATTERNS = ("quota", "too many users have viewed or downloaded", "rate limit")


def download_gdrive(
    file_id: str,
    dest: str | Path,
    md5: str | None,
    *,
    base_url: str = GDRIVE_URL,
    session: requests.Session | None = None,
    **kwargs,
) -> Path:
    """Download a public Google Drive file, passing Drive's "can't scan for viruses" page.

    Drive answers large files with an HTML form (hidden inputs ``id``, ``export``,
    ``confirm``, ``uuid``) that must be submitted to get the bytes; that form is parsed and
    followed once. A quota / rate-limit page raises :class:`NotTheFileError` naming it.
    """
    own_session = session is None
    session = session or requests.Session()
    try:
        params = {"id": file_id, "export": "download"}
        try:
            return download_url(base_url, dest, md5, session=session, params=params, **kwargs)
        except NotTheFileError:
            pass
        # Fetch the page again (it is small) to read its form.
        page = session.get(base_url, params=params, timeout=kwargs.get("timeout", 60.0))
        text = page.text
        lowered = text.lower()
        if any(p in lowered for p in _QUOTA_PATTERNS):
            raise NotTheFileError(
                f"Google Drive refused {file_id} (quota / rate limit page: "
                f"{_html_summary(text.encode())!r})"
            )
        form = _parse_confirm_form(text, file_id)
        if form is None:
            raise NotTheFileError(
                f"Google Drive answered {file_id} with an HTML page without a download form "
                f"({_html_summary(text.encode())!r})"
            )
        action, fields = form
        action = requests.compat.urljoin(page.url, action) if action else base_url
        return download_url(action, dest, md5, session=session, params=fields, **kwargs)
    finally:
        if own_session:
            session.close()


def _parse_confirm_form(text: str, file_id: str) -> tuple[str, dict[str, str]] | None:
    """(action, hidden fields) of Drive's download-confirmation form, or None."""
    form = re.search(r"<form[^>]*id=\"download-form\"[^>]*>(.*?)</form>", text, re.S | re.I)
    if form is None:
        form = re.search(r"<form[^>]*>(.*?)</form>", text, re.S | re.I)
    fields = {"id": file_id, "export": "download"}
    fields.update(
        (html.unescape(n), html.unescape(v))
        for n, v in re.findall(
            r"<input[^>]*type=\"hidden\"[^>]*name=\"([^\"]+)\"[^>]*value=\"([^\"]*)\"",
            form.group(1) if form else text, re.I,
        )
    )
    if "confirm" not in fields:
        m = re.search(r"confirm=([0-9A-Za-z_-]+)", text)  # legacy docs.google.com link form
        if not m:
            return None
        fields["confirm"] = m.group(1)
    action = re.search(r"action=\"([^\"]+)\"", form.group(0)) if form else None
    return (html.unescape(action.group(1)) if action else ""), fields


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
    gdrive_url: str = GDRIVE_URL,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> dict[str, Path]:
    """Make every file of ``files`` present in ``raw_dir`` with its md5; return name → path.

    Sources per file, in order: the file already in ``raw_dir`` (if its md5 matches), each
    URL of ``mirrors`` (``{name}`` substituted or the name appended), then Google Drive when
    ``use_gdrive``. ``files`` defaults to the real CelebA table; tests pass their own md5s.
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
                                                        base_url=gdrive_url, **kw)))
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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{f.md5}  {f.name}\n" for f in files))
    os.replace(tmp, path)
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
