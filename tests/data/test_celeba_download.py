"""download_celeba against a local server: clean, resumed, corrupt, HTML, dead mirror, Drive.

Google Drive is reached through gdown (its real code), routed by the fixture server acting
as a TLS proxy for Drive's host names (see data_fixtures.FixtureServer)."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest

from metainv.data import celeba
from metainv.data.celeba import DownloadError, download_celeba
from metainv.data.transport import SourceError, download_gdrive, download_url, md5_file

from data_fixtures import FixtureServer

FAST = dict(retries=3, backoff=0.0, timeout=5.0, progress=False)
ARCHIVE = "img_align_celeba.zip"


def assert_release_complete(raw_dir, mini):
    for spec in mini.files:
        path = raw_dir / spec.name
        assert path.read_bytes() == mini.contents[spec.name], spec.name
        assert md5_file(path) == spec.md5
    assert not list(raw_dir.glob("*.part")), "a partial file was left behind"
    assert (raw_dir / celeba.CHECKSUMS_FILE).read_text() == "".join(
        f"{f.md5}  {f.name}\n" for f in mini.files)


def test_clean_download_from_mirror(tmp_path, server, mini_celeba):
    paths = download_celeba(tmp_path, [f"{server.url}/ok"], use_gdrive=False,
                            files=mini_celeba.files, **FAST)
    assert set(paths) == {f.name for f in mini_celeba.files}
    assert_release_complete(tmp_path, mini_celeba)
    with zipfile.ZipFile(tmp_path / ARCHIVE) as zf:
        assert "img_align_celeba/000001.jpg" in zf.namelist()


def test_present_verified_files_are_not_downloaded_again(tmp_path, server, mini_celeba):
    mini_celeba.place(tmp_path)
    download_celeba(tmp_path, [f"{server.url}/ok"], use_gdrive=True, files=mini_celeba.files, **FAST)
    assert server.requests == []


def test_cut_transfer_is_resumed_with_range(tmp_path, server, mini_celeba):
    spec = next(f for f in mini_celeba.files if f.name == ARCHIVE)
    size = len(mini_celeba.contents[ARCHIVE])
    download_url(f"{server.url}/cut/{ARCHIVE}", tmp_path / ARCHIVE, spec.md5, chunk_size=1024,
                 **FAST)
    assert (tmp_path / ARCHIVE).read_bytes() == mini_celeba.contents[ARCHIVE]
    (first, no_range), (second, resume) = server.requests
    assert first == second == f"/cut/{ARCHIVE}" and no_range is None
    # the bytes received before the cut (whole 1 KiB blocks) are kept, the rest is asked for
    assert resume == f"bytes={(size // 2) // 1024 * 1024}-"


def test_partial_file_from_an_earlier_run_is_resumed(tmp_path, server, mini_celeba):
    data = mini_celeba.contents[ARCHIVE]
    (tmp_path / f"{ARCHIVE}.part").write_bytes(data[:1000])
    download_celeba(tmp_path, [f"{server.url}/ok"], use_gdrive=False, files=mini_celeba.files, **FAST)
    assert (f"/ok/{ARCHIVE}", "bytes=1000-") in server.requests
    assert_release_complete(tmp_path, mini_celeba)


def test_corrupted_byte_is_caught_by_md5_and_nothing_is_kept(tmp_path, server, mini_celeba):
    with pytest.raises(DownloadError) as err:
        download_celeba(tmp_path, [f"{server.url}/corrupt"], use_gdrive=False,
                        files=mini_celeba.files, **FAST)
    msg = str(err.value)
    assert "md5" in msg and f"{server.url}/corrupt/{ARCHIVE}" in msg
    assert "place the files by hand" in msg and mini_celeba.files[0].md5 in msg
    assert list(tmp_path.iterdir()) == []  # neither the corrupt file, a .part nor checksums


def test_corrupt_local_file_is_replaced_by_a_verified_download(tmp_path, server, mini_celeba):
    mini_celeba.place(tmp_path)
    (tmp_path / ARCHIVE).write_bytes(b"PK\x03\x04 truncated")
    download_celeba(tmp_path, [f"{server.url}/ok"], use_gdrive=False, files=mini_celeba.files, **FAST)
    assert server.requests == [(f"/ok/{ARCHIVE}", None)]
    assert_release_complete(tmp_path, mini_celeba)


def test_html_page_is_never_saved_as_the_zip(tmp_path, server, mini_celeba):
    spec = next(f for f in mini_celeba.files if f.name == ARCHIVE)
    with pytest.raises(celeba.NotTheFileError, match="Quota exceeded"):
        download_url(f"{server.url}/html/{ARCHIVE}", tmp_path / ARCHIVE, spec.md5, **FAST)
    assert list(tmp_path.iterdir()) == []
    # ... and with a good mirror behind it, the good copy wins.
    download_celeba(tmp_path, [f"{server.url}/html", f"{server.url}/ok"], use_gdrive=False,
                    files=mini_celeba.files, **FAST)
    assert_release_complete(tmp_path, mini_celeba)


def test_dead_first_mirror_falls_back_to_the_second(tmp_path, server, dead_url, mini_celeba):
    download_celeba(tmp_path, [dead_url, f"{server.url}/ok"], use_gdrive=False,
                    files=mini_celeba.files, **FAST)
    assert_release_complete(tmp_path, mini_celeba)
    assert len(server.requests) == len(mini_celeba.files)


def test_mirror_template_with_name_placeholder(tmp_path, server, mini_celeba):
    download_celeba(tmp_path, [f"{server.url}/ok/{{name}}"], use_gdrive=False,
                    files=mini_celeba.files, **FAST)
    assert_release_complete(tmp_path, mini_celeba)


def drive(server):
    return dict(gdrive_proxy=server.url, gdrive_verify=server.ca_bundle)


def test_google_drive_confirmation_form_is_followed(tmp_path, server, dead_url, mini_celeba):
    download_celeba(tmp_path, [dead_url], use_gdrive=True, files=mini_celeba.files,
                    **drive(server), **FAST)
    assert_release_complete(tmp_path, mini_celeba)
    confirmed = [p for p, _ in server.requests if "confirm=t" in p and "uuid=1234-abcd" in p]
    assert len(confirmed) == len(mini_celeba.files)
    assert ("CONNECT drive.google.com:443", None) in server.requests


#: larger than gdown's 512 KiB read chunk, so a transfer cut half-way has bytes to keep
BIG = np.random.default_rng(0).integers(0, 256, 3 << 19, dtype=np.uint8).tobytes()
BIG_MD5 = hashlib.md5(BIG).hexdigest()


@pytest.fixture
def big_drive():
    srv = FixtureServer({"big.bin": BIG}, {"big.bin": "gid-big"})
    srv.drive_mode = "cut"  # each file's first transfer drops after half its bytes
    yield srv
    srv.close()


def test_google_drive_cut_transfer_is_resumed(tmp_path, big_drive):
    download_gdrive("gid-big", tmp_path / "big.bin", BIG_MD5, proxy=big_drive.url,
                    verify=big_drive.ca_bundle, **FAST)
    assert (tmp_path / "big.bin").read_bytes() == BIG
    ranges = [r for _, r in big_drive.requests if r]
    assert ranges == ["bytes=524288-"]  # the whole 512 KiB chunk received before the cut is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]


def test_google_drive_partial_file_of_an_earlier_run_is_resumed(tmp_path, big_drive):
    kw = dict(proxy=big_drive.url, verify=big_drive.ca_bundle, timeout=5.0, progress=False)
    with pytest.raises(SourceError, match="incomplete"):  # one attempt: this run fails
        download_gdrive("gid-big", tmp_path / "big.bin", BIG_MD5, retries=1, **kw)
    [part] = tmp_path.glob("*.part")
    assert part.stat().st_size == 524288 and not (tmp_path / "big.bin").exists()
    big_drive.requests.clear()
    download_gdrive("gid-big", tmp_path / "big.bin", BIG_MD5, retries=1, **kw)
    assert (tmp_path / "big.bin").read_bytes() == BIG
    assert [r for _, r in big_drive.requests if r] == ["bytes=524288-"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]


def test_google_drive_md5_mismatch_keeps_nothing(tmp_path, server, mini_celeba):
    server.drive_mode = "corrupt"
    with pytest.raises(DownloadError) as err:
        download_celeba(tmp_path, [], use_gdrive=True, files=mini_celeba.files[:1],
                        **drive(server), **FAST)
    assert "Google Drive id gid-0" in str(err.value) and "md5" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_every_source_failing_names_them_all(tmp_path, server, dead_url, mini_celeba):
    (tmp_path / ARCHIVE).write_bytes(b"<html>not a zip</html>")
    server.drive_mode = "quota"
    with pytest.raises(DownloadError) as err:
        download_celeba(tmp_path, [dead_url, f"{server.url}/missing"], use_gdrive=True,
                        files=mini_celeba.files, **drive(server), **FAST)
    msg = str(err.value)
    for needle in (f"local file {tmp_path / ARCHIVE}", f"mirror {dead_url}/{ARCHIVE}",
                   "HTTP 404", "Google Drive id gid-0",
                   "Too many users have viewed or downloaded this file", str(tmp_path)):
        assert needle in msg, needle
    # the user's bad file is left for them to inspect; no partial download was added
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE]


def test_no_source_configured(tmp_path, mini_celeba):
    with pytest.raises(DownloadError, match="no mirrors configured"):
        download_celeba(tmp_path, [], use_gdrive=False, files=mini_celeba.files[:1], **FAST)


def test_real_table_is_the_default():
    assert [f.name for f in celeba.CELEBA_FILES][:2] == [ARCHIVE, "list_eval_partition.txt"]
    assert celeba.CELEBA_FILES[0].md5 == "00d2c5bc6d35e252742224ab0c1e8fcb"
    assert all(len(f.md5) == 32 for f in celeba.CELEBA_FILES)
