"""Helpers for the data tests: a miniature CelebA built in the test and a local HTTP server.

The server is also an HTTP proxy: a ``CONNECT`` to ``drive.google.com`` or
``drive.usercontent.google.com`` is answered with TLS (a self-signed certificate made here,
:func:`drive_certificate`) and served by a miniature Google Drive, so that ``gdown`` runs
its real code against 127.0.0.1.

The miniature release has the real layout: ``img_align_celeba.zip`` holding
``img_align_celeba/000001.jpg`` … ``000012.jpg`` (178 wide × 218 high) and the five text
files; ``list_eval_partition.txt`` puts 000001–000008 in train, 000009–000010 in valid and
000011–000012 in test. Its md5 table is computed here, never taken from the real one.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import re
import socket
import socketserver
import ssl
import tempfile
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

DRIVE_HOSTS = ("drive.google.com", "drive.usercontent.google.com")
_CERT: dict[str, str] = {}


def drive_certificate() -> tuple[str, str]:
    """(certificate, key) PEM paths of a self-signed CA certificate for :data:`DRIVE_HOSTS`."""
    if not _CERT:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metainv test Drive")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in DRIVE_HOSTS]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        folder = Path(tempfile.mkdtemp(prefix="metainv-drive-cert-"))
        (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / "key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        _CERT.update(cert=str(folder / "cert.pem"), key=str(folder / "key.pem"))
    return _CERT["cert"], _CERT["key"]


DRIVE_QUOTA_PAGE = (
    b"<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>"
    b'<p class="uc-error-caption">Sorry, you can\'t view or download this file at this time.</p>'
    b'<p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently.'
    b" Please try accessing the file again later.</p></body></html>"
)

HTML_PAGE = (b"<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head>"
             b"<body>Too many users have viewed or downloaded this file recently.</body></html>")


class FixtureServer:
    """127.0.0.1 server with per-prefix behaviours, logging (path, Range header) per request.

    ``/ok/<name>``       the file, honouring ``Range: bytes=N-`` with 206
    ``/cut/<name>``      first request for a name sends half the bytes then drops the connection
    ``/corrupt/<name>``  the file with one byte flipped
    ``/html/<name>``     an HTML quota page with status 200
    ``/missing/<name>``  404

    Through ``CONNECT`` (``proxy`` / ``ca_bundle`` for gdown): ``drive.google.com/uc?id=``
    redirects to ``drive.usercontent.google.com/download``, which answers with the
    virus-scan form, and with ``confirm`` the file (``Content-Disposition``). ``drive_mode``
    changes that: ``"quota"`` (the quota page), ``"cut"`` (each file's first transfer drops
    after half its bytes), ``"corrupt"`` (one byte flipped).
    """

    def __init__(self, files: dict[str, bytes], ids: dict[str, str]):
        self.files = files
        self.by_id = {ids[name]: data for name, data in files.items()}
        self.names = {ids[name]: name for name in files}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_done: set[str] = set()
        self.drive_mode = "ok"
        cert, key = drive_certificate()
        self.ca_bundle = cert
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            tunnel_host: str | None = None

            def do_CONNECT(self):
                host = self.path.split(":")[0]
                server.requests.append((f"CONNECT {self.path}", None))
                if host not in DRIVE_HOSTS:
                    return self._send(502, b"only the miniature Drive is proxied")
                self.send_response(200, "Connection established")
                self.end_headers()
                self.connection = tls.wrap_socket(self.connection, server_side=True)
                self.rfile = self.connection.makefile("rb")
                self.wfile = socketserver._SocketWriter(self.connection)
                self.tunnel_host = host
                self.close_connection = False
                while not self.close_connection:
                    self.handle_one_request()

            def do_drive(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                file_id = query.get("id", "")
                if server.drive_mode == "quota":
                    return self._send(200, DRIVE_QUOTA_PAGE, "text/html; charset=utf-8")
                if self.tunnel_host == "drive.google.com" and url.path == "/uc":
                    self.send_response(303)
                    self.send_header("Location", "https://drive.usercontent.google.com/download"
                                                 f"?id={file_id}&export=download")
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                if url.path != "/download" or file_id not in server.by_id:
                    return self._send(404, b"no such file")
                if query.get("confirm") != "t":
                    form = (
                        '<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning'
                        '</title></head><body><form id="download-form" '
                        'action="https://drive.usercontent.google.com/download" method="get">'
                        '<input type="submit" id="uc-download-link" value="Download anyway"/>'
                        f'<input type="hidden" name="id" value="{file_id}">'
                        '<input type="hidden" name="export" value="download">'
                        '<input type="hidden" name="confirm" value="t">'
                        '<input type="hidden" name="uuid" value="1234-abcd"></form></body></html>'
                    )
                    return self._send(200, form.encode(), "text/html; charset=utf-8")
                data = server.by_id[file_id]
                name = server.names[file_id]
                disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
                if server.drive_mode == "corrupt":
                    data = bytearray(data)
                    data[len(data) // 2] ^= 0xFF
                    data = bytes(data)
                if server.drive_mode == "cut" and file_id not in server.cut_done:
                    server.cut_done.add(file_id)
                    return self._send_cut(data, disposition)
                return self._send_file(data, disposition)

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if self.tunnel_host is not None:
                    return self.do_drive()
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/", 1)
                mode, name = parts[0], parts[1] if len(parts) > 1 else ""
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
                    return self._send_cut(data)
                return self._send_file(data)

            def _send_cut(self, data: bytes, extra: dict | None = None):
                """Announce the whole file, send half of it, drop the connection."""
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def _send_file(self, data: bytes, extra: dict | None = None):
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
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
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
