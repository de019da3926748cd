"""Bring-your-own images: any folder of JPEG/PNG files through the same preprocessing.

Images are found recursively (extensions ``.jpg .jpeg .png``, any case; hidden files and
folders are ignored) and named by their path relative to ``folder``. One seeded permutation
(:func:`metainv.data.preprocess.selection_order`) picks ``n_val`` validation images; the
training images are drawn from the remaining ones with the train stream, so the two splits
never overlap. Then the same crop / antialiased resize / streamed store as for CelebA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from metainv.specs.config import Data
from metainv.data.preprocess import Crop, OnCorrupt, build_store, selection_order

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def list_images(folder: str | Path, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> list[str]:
    """Sorted POSIX paths (relative to ``folder``) of every image file below it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a directory (set data.folder to a folder of images)")
    exts = tuple(e.lower() for e in extensions)
    names = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in exts
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not names:
        raise FileNotFoundError(f"{folder}: no {'/'.join(exts)} images found")
    return names


def prepare_folder(
    folder: str | Path,
    out_dir: str | Path,
    resolution: int,
    n_train: int | None = None,
    n_val: int = Data.model_fields["n_val"].default,
    seed: int = 0,
    crop: Crop = "square",
    on_corrupt: OnCorrupt = Data.model_fields["on_corrupt"].default,
    *,
    workers: int | None = None,
    chunk_size: int = 256,
    progress: bool = True,
    min_size: int | None = None,
) -> Path:
    """Build the store in ``out_dir`` from the images of ``folder``; return the manifest path.

    ``n_val`` images are held out first; ``n_train=None`` trains on all the (readable) rest. With
    ``on_corrupt="skip"`` an unreadable file is listed in the manifest and replaced by the
    next image of the same split's seeded order.
    """
    folder = Path(folder)
    names = list_images(folder)
    if n_val > len(names):
        raise ValueError(f"{folder}: n_val={n_val} but the folder holds {len(names)} images")
    val_order = selection_order(names, n_val, seed, "val")
    val_held_out = set(val_order[:n_val])
    train_pool = [n for n in names if n not in val_held_out]
    if n_train is not None and n_train > len(train_pool):
        raise ValueError(f"{folder}: n_train={n_train} but only {len(train_pool)} images remain "
                         f"after holding out n_val={n_val}")
    # Replacements for skipped validation images come from the val order's tail; those for
    # training images from the train pool (build_store keeps the splits disjoint).
    train_order = selection_order(train_pool, n_train, seed, "train")

    def read_bytes(name: str) -> bytes:
        return (folder / name).read_bytes()

    return build_store(
        out_dir, "folder",
        {"val": (val_order, n_val),
         "train": (train_order, n_train)},
        read_bytes, resolution, crop, on_corrupt,
        workers=workers, chunk_size=chunk_size, progress=progress, min_size=min_size,
        source="folder",
        source_folder=str(folder.resolve()),
        images_found=len(names),
        seed=int(seed),
        requested={"n_train": n_train, "n_val": n_val},
        created_by="metainv.data.folder.prepare_folder",
    )
