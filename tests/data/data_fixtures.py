"""Helpers for the data tests: a miniature CelebA built in the test and a local HTTP server.

The miniature release has the real layout: ``img_align_celeba.zip`` holding
``img_align_celeba/000001.jpg`` … ``000012.jpg`` (178 wide × 218 high) and the five text
files; ``list_eval_partition.txt`` puts 000001–000008 in train, 000009–000010 in valid and
000011–000012 in test. Its md5 table is computed here, never taken from the real one.
"""

from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
from PIL import Image

from metainv.data.celeba import RemoteFile

N_IMAGES = 12
PARTITION = {i: 0 if i <= 8 else 1 if i <= 10 else 2 for i in range(1, N_IMAGES + 1)}


def face_like_jpeg(index: int, width: int = 178, height: int = 218, quality: int = 90) -> bytes:
    """A smooth, index-dependent colour image encoded as JPEG."""
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = [
        127 + 100 * np.sin(x / (7 + 3 * c + index) + rng.uniform(0, 6)) * np.cos(y / (11 + c))
        for c in range(3)
    ]
    arr = np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def image_name(i: int) -> str:
    return f"{i:06d}.jpg"


def build_archive(jpegs: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("img_align_celeba/", b"")
        for name, data in sorted(jpegs.items()):
            zf.writestr(f"img_align_celeba/{name}", data)
    return buf.getvalue()


@dataclass
class MiniCeleba:
    contents: dict[str, bytes]          # file name → bytes, the six release files
    files: tuple[RemoteFile, ...]       # the md5 table for these bytes
    jpegs: dict[str, bytes] = field(default_factory=dict)

    def place(self, folder: Path, names=None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.contents.items():
            if names is None or name in names:
                (folder / name).write_bytes(data)
        return folder


def make_mini_celeba(corrupt: dict[str, bytes] | None = None) -> MiniCeleba:
    """The miniature release; ``corrupt`` replaces some JPEGs' bytes inside the archive."""
    jpegs = {image_name(i): face_like_jpeg(i) for i in range(1, N_IMAGES + 1)}
    jpegs.update(corrupt or {})
    names = sorted(jpegs)
    contents = {
        "img_align_celeba.zip": build_archive(jpegs),
        "list_eval_partition.txt": "".join(f"{image_name(i)} {PARTITION[i]}\n" for i in PARTITION).encode(),
        "list_attr_celeba.txt": (f"{N_IMAGES}\n5_o_Clock_Shadow Smiling\n"
                                 + "".join(f"{n} -1 1\n" for n in names)).encode(),
        "identity_CelebA.txt": "".join(f"{n} {i % 3 + 1}\n" for i, n in enumerate(names)).encode(),
        "list_bbox_celeba.txt": (f"{N_IMAGES}\nimage_id x_1 y_1 width height\n"
                                 + "".join(f"{n} 10 20 100 120\n" for n in names)).encode(),
        "list_landmarks_align_celeba.txt": (f"{N_IMAGES}\nlefteye_x lefteye_y\n"
                                            + "".join(f"{n} 69 109\n" for n in names)).encode(),
    }
    files = tuple(
        RemoteFile(name, f"gid-{k}", hashlib.md5(data).hexdigest())
        for k, (name, data) in enumerate(contents.items())
    )
    return MiniCeleba(contents, files, jpegs)


# ----------------------------------------------------------------------------- HTTP server

HTML_PAGE = (b"<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head>"
             b"<body>Too many users have viewed or downloaded this file recently.</body></html>")


class FixtureServer:
    """127.0.0.1 server with per-prefix behaviours, logging (path, Range header) per request.

    ``/ok/<name>``       the file, honouring ``Range: bytes=N-`` with 206
    ``/cut/<name>``      first request for a name sends half the bytes then drops the connection
    ``/corrupt/<name>``  the file with one byte flipped
    ``/html/<name>``     an HTML quota page with status 200
    ``/missing/<name>``  404
    ``/gdrive/download`` Drive: without ``confirm`` the virus-scan form, with it the file (by id)
    ``/quota/download``  Drive answering every request with its quota page
    """

    def __init__(self, files: dict[str, bytes], ids: dict[str, str]):
        self.files = files
        self.by_id = {ids[name]: data for name, data in files.items()}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_done: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/", 1)
                mode, name = parts[0], parts[1] if len(parts) > 1 else ""
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if mode == "gdrive":
                    if query.get("confirm") != "t":
                        form = (
                            '<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning'
                            '</title></head><body><form id="download-form" action="/gdrive/download"'
                            ' method="get"><input type="submit" value="Download anyway"/>'
                            f'<input type="hidden" name="id" value="{query.get("id", "")}">'
                            '<input type="hidden" name="export" value="download">'
                            '<input type="hidden" name="confirm" value="t">'
                            '<input type="hidden" name="uuid" value="1234-abcd"></form></body></html>'
                        )
                        return self._send(200, form.encode(), "text/html; charset=utf-8")
                    data = server.by_id.get(query.get("id"))
                    return self._send_file(data) if data is not None else self._send(404, b"no")
                if mode == "quota":
                    return self._send(200, HTML_PAGE, "text/html; charset=utf-8")
                if mode == "html":
                    return self._send(200, HTML_PAGE, "text/html; charset=utf-8")
                data = server.files.get(name)
                if data is None or mode == "missing":
                    return self._send(404, b"not found", "text/plain")
                if mode == "corrupt":
                    data = bytearray(data)
                    data[len(data) // 2] ^= 0xFF
                    return self._send_file(bytes(data))
                if mode == "cut" and name not in server.cut_done:
                    server.cut_done.add(name)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Content-Type", "application/octet-stream")
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                return self._send_file(data)

            def _send_file(self, data: bytes):
                rng = self.headers.get("Range")
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    body = data[start:]
                else:
                    self.send_response(200)
                    body = data
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                self.wfile.write(body)

            def _send(self, status: int, body: bytes, ctype: str = "text/plain"):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", ctype)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
