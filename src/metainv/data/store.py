"""On-disk store of preprocessed images: one folder per (dataset, resolution).

Layout of a store folder ``data/processed/<dataset>/<res>/``::

    train.npy       uint8, N×H×W×C (C = 3), memory-mappable
    val.npy         uint8, M×H×W×C
    manifest.json   {"dataset", "resolution", "channels", "created_by",
                     "splits": {"train": {"count", "sources", "sha256"}, "val": {...}},
                     ...free-form provenance (seed, crop, source archive md5s)}

Every data source (embedded sample, CelebA, a user's folder) writes this layout through
:func:`write_store`, and every consumer reads it through :func:`load_split`, which
checks shape, dtype and the checksum recorded in the manifest so that a truncated or
swapped array names the file instead of producing silent garbage.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

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


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


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
    _atomic_save_npy(path, np.ascontiguousarray(images))
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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, path)
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


def to_tensor(images: np.ndarray, device: "str | torch.device" = "cpu",
              dtype: "torch.dtype | None" = None) -> "torch.Tensor":
    """uint8 N×H×W×C → float N×C×H×W in [0, 1] (the package's image convention).

    torch is imported here, not at module level, so data-preparation jobs stay light.
    """
    import torch

    dtype = dtype or torch.float32
    t = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return t.permute(0, 3, 1, 2).to(dtype).div_(255.0)


def to_uint8(images: "torch.Tensor") -> np.ndarray:
    """float N×C×H×W in [0, 1] → uint8 N×H×W×C (rounded, clipped)."""
    import torch

    x = images.detach().clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
