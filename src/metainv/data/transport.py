"""Generic file transport: resumable, md5-checked HTTP(S) downloads and Google Drive.

:func:`download_url` streams a URL into ``<dest>.part`` (resumed with an HTTP ``Range``
request after a dropped connection, retried with exponential backoff), refuses an HTML page
(a mirror's error page) as the file, checks the md5 and only then renames the file to
``dest`` atomically.

:func:`download_gdrive` fetches a public Google Drive file with ``gdown``, which maintains
the handling of Drive's changing confirmation ("can't scan for viruses") pages, resumes
(``resume=True`` picks up its ``.part`` file from an earlier run, ``retries`` resume a
dropped transfer with ``Range``) and feeds every byte, resumed ones included, to an md5
``hasher``. Its output goes to ``<dest>.gdrive`` and is renamed to ``dest`` only once the
md5 matches, exactly like :func:`download_url`.

Every failure of one source for one file is a :class:`SourceError` (the caller tries the
next source); :class:`NotTheFileError` marks an answer that is an HTML page, not the file.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import re
import time
from pathlib import Path
from typing import Mapping

import requests
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

USER_AGENT = "metainv-data/0.1 (+https://github.com/; python-requests)"
from metainv.specs.config import Celeba


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
    retries: int = Celeba.model_fields["retries"].default,
    backoff: float = 1.0,
    timeout: float = Celeba.model_fields["timeout"].default,
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

def download_gdrive(
    file_id: str,
    dest: str | Path,
    md5: str | None,
    *,
    retries: int = Celeba.model_fields["retries"].default,
    timeout: float = Celeba.model_fields["timeout"].default,
    progress: bool = True,
    proxy: str | None = None,
    verify: bool | str = True,
    **_ignored,
) -> Path:
    """Download the public Google Drive file ``file_id`` to ``dest`` with ``gdown``; md5-checked.

    gdown follows Drive's confirmation pages and raises on its quota / permission pages
    (:class:`NotTheFileError` here, naming Drive's message). Bytes go to gdown's
    ``<dest>.gdrive<random>.part``, resumed by the next call after an interruption; the
    finished file is renamed to ``dest`` only when its md5 matches, else deleted.
    ``proxy`` / ``verify`` (a CA bundle) are passed to requests (tests route Drive to a local
    server with them).
    """
    import gdown
    from gdown.exceptions import DownloadError as GdownDownloadError
    from gdown.exceptions import FileURLRetrievalError

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(dest.name + ".gdrive")
    if staging.exists():  # finished by gdown in an interrupted run, never verified
        if md5 is None or md5_file(staging) == md5:
            os.replace(staging, dest)
            return dest
        staging.unlink()
    hasher = hashlib.md5()
    try:
        gdown.download(id=file_id, output=str(staging), quiet=not progress, proxy=proxy,
                       verify=verify, use_cookies=False, resume=True,
                       retries=max(0, int(retries) - 1), timeout=timeout, hasher=hasher)
    except FileURLRetrievalError as e:
        raise NotTheFileError(f"Google Drive refused {file_id}: {' '.join(str(e).split())}") from e
    except (GdownDownloadError, requests.RequestException) as e:
        raise SourceError(f"Google Drive {file_id}: {e}") from e
    got = hasher.hexdigest()
    if md5 is not None and got != md5:
        staging.unlink(missing_ok=True)
        raise SourceError(f"Google Drive {file_id}: md5 {got} != expected {md5}; file deleted")
    os.replace(staging, dest)
    return dest
