"""On-disk store of preprocessed images: one folder per (dataset, resolution).

Layout of a store folder ``data/processed/<dataset>/<res>/``::

    train.npy       uint8, N×H×W×C (C = 3), memory-mappable
    val.npy         uint8, M×H×W×C
    manifest.json   {"dataset", "resolution", "channels", "created_by",
                     "splits": {"train": {"count", "sources", "sha256"}, "val": {...}},
                     ...free-form provenance (seed, crop, source archive md5s)}

This module is the one owner of the format. Every data source writes through it: whole arrays
with :func:`write_store` (embedded sample), or streamed chunk by chunk with
:class:`NpyStreamWriter` between :func:`begin_store` and :func:`write_manifest` (CelebA, a
user's folder). Every consumer reads through :func:`load_split`, which checks shape, dtype
and the checksum recorded in the manifest so that a truncated or swapped array names the
file instead of producing silent garbage.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from metainv.atomic import save_npy, write_json
from metainv.errors import MetainvError

if TYPE_CHECKING:
    import torch

SPLITS = ("train", "val")
MANIFEST = "manifest.json"


class StoreError(MetainvError, RuntimeError):
    """A store folder is missing, incomplete or corrupt."""


def _sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def split_path(folder: str | Path, split: str) -> Path:
    """``<folder>/<split>.npy``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return Path(folder) / f"{split}.npy"


def begin_store(folder: str | Path) -> Path:
    """Create ``folder`` and remove its manifest (the commit marker) before splits are rewritten."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    return folder


class NpyStreamWriter:
    """Write a uint8 ``.npy`` of known shape chunk by chunk, hashing it (sha256) on the way.

    The header for ``shape`` goes first, chunks are appended in order, and :meth:`commit`
    checks the count and renames ``<path>.tmp`` → ``<path>`` atomically. The sha256 equals
    that of the finished file, as :func:`metainv.data.store.load_split` verifies it.
    """

    def __init__(self, path: str | Path, shape: tuple[int, ...]):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.shape = tuple(int(s) for s in shape)
        self.written = 0
        self._sha = hashlib.sha256()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.tmp, "w+b")
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                     "fortran_order": False, "shape": self.shape},
        )
        self._header_len = len(header.getvalue())
        self._write(header.getvalue())

    def _write(self, data: bytes | memoryview) -> None:
        self._sha.update(data)
        self._f.write(data)

    def append(self, images: np.ndarray) -> None:
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if images.shape[1:] != self.shape[1:] or self.written + len(images) > self.shape[0]:
            raise ValueError(f"{self.path}: chunk {images.shape} does not fit {self.shape} "
                             f"after {self.written} images")
        self._write(memoryview(images).cast("B"))
        self.written += len(images)

    def commit(self, allow_fewer: bool = False) -> str:
        """Finish the file; with ``allow_fewer`` a short file gets its header's N rewritten.

        numpy pads headers so that axis 0 can change in place (``GROWTH_AXIS_MAX_DIGITS``),
        so the header keeps its length; the file is then re-hashed once.
        """
        if self.written != self.shape[0]:
            if not allow_fewer:
                self.abort()
                raise ValueError(f"{self.path}: {self.written} images written, "
                                 f"{self.shape[0]} expected")
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                         "fortran_order": False, "shape": (self.written, *self.shape[1:])},
            )
            if len(header.getvalue()) != self._header_len:
                self.abort()
                raise ValueError(f"{self.path}: cannot shrink the header in place")
            self._f.seek(0)
            self._f.write(header.getvalue())
            self._f.truncate(self._header_len + self.written * int(np.prod(self.shape[1:])))
            self._f.flush()
            self.shape = (self.written, *self.shape[1:])
            self._sha = hashlib.sha256()
            with open(self.tmp, "rb") as f:
                while block := f.read(1 << 20):
                    self._sha.update(block)
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.replace(self.tmp, self.path)
        return self._sha.hexdigest()

    def abort(self) -> None:
        if not self._f.closed:
            self._f.close()
        self.tmp.unlink(missing_ok=True)


def write_split(folder: str | Path, split: str, images: np.ndarray) -> str:
    """Write one split's uint8 N×H×W×C array atomically; return its sha256."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"{split}: expected uint8 N×H×W×C with C in (1, 3), got {images.dtype} {images.shape}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}.npy"
    save_npy(path, np.ascontiguousarray(images))
    return _sha256_file(path)


def write_manifest(
    folder: str | Path,
    dataset: str,
    resolution: int,
    splits: Mapping[str, Mapping[str, Any]],
    **provenance: Any,
) -> Path:
    """Write ``manifest.json``; ``splits[name]`` holds at least ``sha256`` and ``sources``."""
    folder = Path(folder)
    manifest = {
        "dataset": dataset,
        "resolution": int(resolution),
        "format": "uint8 N×H×W×C .npy per split",
        "splits": {name: dict(info) for name, info in splits.items()},
        **provenance,
    }
    path = folder / MANIFEST
    write_json(path, manifest, sort_keys=True)
    return path


def write_store(
    folder: str | Path,
    dataset: str,
    train: np.ndarray,
    val: np.ndarray,
    train_sources: Sequence[str],
    val_sources: Sequence[str],
    **provenance: Any,
) -> Path:
    """Write both splits and the manifest (arrays first, manifest last = commit marker)."""
    if len(train) != len(train_sources) or len(val) != len(val_sources):
        raise ValueError("one source name per image is required")
    if train.shape[1:] != val.shape[1:]:
        raise ValueError(f"train {train.shape} and val {val.shape} differ in image shape")
    splits = {}
    for name, arr, src in (("train", train, train_sources), ("val", val, val_sources)):
        splits[name] = {
            "count": int(len(arr)),
            "shape": list(arr.shape),
            "sha256": write_split(folder, name, arr),
            "sources": list(src),
        }
    return write_manifest(folder, dataset, train.shape[1], splits, **provenance)


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise StoreError(f"{path}: no manifest; run the data rule that builds this store")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise StoreError(f"{path}: corrupt manifest ({e})") from e


def load_split(folder: str | Path, split: str, verify: bool = True, mmap: bool = False) -> np.ndarray:
    """Load one split as uint8 N×H×W×C, checked against the manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    path = folder / f"{split}.npy"
    if split not in manifest["splits"] or not path.exists():
        raise StoreError(f"{path}: split {split!r} missing from the store")
    info = manifest["splits"][split]
    if verify and _sha256_file(path) != info["sha256"]:
        raise StoreError(f"{path}: checksum differs from {MANIFEST}; the file is corrupt or stale")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None)
    except ValueError as e:
        raise StoreError(f"{path}: unreadable array ({e})") from e
    if arr.dtype != np.uint8 or arr.ndim != 4 or list(arr.shape) != list(info["shape"]):
        raise StoreError(f"{path}: expected uint8 {info['shape']}, found {arr.dtype} {list(arr.shape)}")
    return arr


def split_tuning(n_train: int, tuning: int) -> tuple[slice, slice]:
    """(fitting part, tuning split) of a training split of ``n_train`` images.

    The tuning split is the last ``tuning`` images (``config.data.tuning``). Nothing is trained
    on it; every choice is made on it — solver parameter searches, the denoiser's and the
    meta-trainings' curves, loss reductions — so that the validation split is only scored for
    the tables.
    """
    if not 0 < tuning < n_train:
        raise StoreError(f"data.tuning must lie in [1, {n_train - 1}] for {n_train} training "
                         f"images, got {tuning}")
    return slice(0, n_train - tuning), slice(n_train - tuning, n_train)


def to_tensor(images: np.ndarray, device: "str | torch.device" = "cpu",
              dtype: "torch.dtype | None" = None) -> "torch.Tensor":
    """uint8 N×H×W×C → float N×C×H×W in [0, 1] (the package's image convention).

    torch is imported here, not at module level, so data-preparation jobs stay light.
    """
    import torch

    dtype = dtype or torch.float32
    images = np.ascontiguousarray(images)
    if not images.flags.writeable:  # a memory-mapped store: torch wants an array it may own
        images = images.copy()
    t = torch.from_numpy(images).to(device)
    return t.permute(0, 3, 1, 2).to(dtype).div_(255.0)


def to_uint8(images: "torch.Tensor") -> np.ndarray:
    """float N×C×H×W in [0, 1] → uint8 N×H×W×C (rounded, clipped)."""
    import torch

    x = images.detach().clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
