"""Preprocessing shared by every image source: split selection, crop + resize, streamed store.

Pipeline for one (source, resolution):

1. **Split selection** (:func:`selection_order`): a seeded permutation of each split's pool
   (``np.random.default_rng([seed, stream])``, a separate stream per split so ``n_val``'s
   images do not change when ``n_train`` does). The first ``n`` names, sorted, are the
   selection; the rest of the permutation are replacements used only when an image is skipped
   as unreadable (``on_corrupt: skip``). A larger ``n`` selects a superset of a smaller one.
2. **Image transform** (:func:`load_image`): decode with Pillow, honour an EXIF orientation,
   flatten alpha onto white, convert to RGB, take the centred crop (:func:`crop_box`: a side in
   pixels, ``"square"`` = the largest centred square, or ``None`` = no crop), then resize to
   ``resolution``² with Pillow's LANCZOS filter (a windowed sinc whose support widens by the
   downscale factor, i.e. antialiased: every source pixel contributes, unlike strided or
   nearest/bilinear-without-antialias sampling). For CelebA (178×218) the default crop is the
   178×178 centre square (rows 20–197) used by SIREN / learned-initialisation work.
3. **Streaming store** (:class:`NpyStreamWriter`): images are decoded in chunks by a thread
   pool (Pillow releases the GIL while decoding and resampling) and appended to
   ``<split>.npy.tmp`` whose header is written first; the sha256 is hashed on the fly, the file
   renamed atomically, and :func:`metainv.data.store.write_manifest` written last. Peak memory
   is one chunk of images, independent of ``n``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence, Union

import numpy as np
import PIL
from PIL import ExifTags, Image
from tqdm.auto import tqdm

from metainv.data import store
from metainv.errors import MetainvError

log = logging.getLogger(__name__)

#: ``int``: centred square of that side; ``"square"``: largest centred square; ``None``: no crop.
Crop = Union[int, Literal["square"], None]
OnCorrupt = Literal["fail", "skip"]
#: Per-split random streams: changing one split's size never changes another's selection.
SPLIT_STREAMS = {"train": 0, "val": 1}
RESAMPLE = Image.Resampling.LANCZOS


class ImageReadError(MetainvError, ValueError):
    """An image could not be decoded or transformed; the message names the file."""


# ----------------------------------------------------------------------------- transforms

def crop_box(width: int, height: int, crop: Crop) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the centred crop; offsets are floor((size - side) / 2)."""
    if crop is None:
        return 0, 0, width, height
    side = min(width, height) if crop == "square" else int(crop)
    if isinstance(crop, str) and crop != "square":
        raise ValueError(f"crop must be an int, 'square' or None, got {crop!r}")
    if side <= 0 or side > width or side > height:
        raise ValueError(f"crop {side}×{side} does not fit a {width}×{height} image")
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB view of any Pillow mode: alpha composited on white, 16-bit scaled to 8-bit."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I"):
        arr = np.asarray(im, dtype=np.float64) * (255.0 / 65535.0)
        im = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def load_image(
    source: bytes | str | Path,
    resolution: int,
    crop: Crop = "square",
    resample: Image.Resampling = RESAMPLE,
) -> np.ndarray:
    """Decode one image → centred crop → antialiased resize; uint8 ``resolution×resolution×3``."""
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
        if im.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            from PIL import ImageOps

            im = ImageOps.exif_transpose(im)
        im = _to_rgb(im)
        box = crop_box(im.width, im.height, crop)
        if box != (0, 0, im.width, im.height):
            im = im.crop(box)  # strict crop: no pixel outside the box enters the filter
        if im.size != (resolution, resolution):
            im = im.resize((resolution, resolution), resample=resample)
        out = np.asarray(im, dtype=np.uint8)
    if out.shape != (resolution, resolution, 3):
        raise ImageReadError(f"unexpected decoded shape {out.shape}")
    return out


# ----------------------------------------------------------------------------- selection

def selection_order(pool: Sequence[str], n: int | None, seed: int, split: str) -> list[str]:
    """Seeded candidate order for one split: the ``n`` chosen names sorted, then replacements.

    ``pool`` is sorted first, so the result depends only on the set of names, ``seed`` and
    the split's stream. ``n=None`` takes the whole pool.
    """
    names = sorted(pool)
    if len(set(names)) != len(names):
        raise ValueError(f"{split}: duplicate image names in the pool")
    n = len(names) if n is None else int(n)
    if n < 0 or n > len(names):
        raise ValueError(f"{split}: {n} images requested but only {len(names)} available")
    rng = np.random.default_rng([int(seed), SPLIT_STREAMS.get(split, 2)])
    perm = rng.permutation(len(names))
    chosen = sorted(names[i] for i in perm[:n])
    return chosen + [names[i] for i in perm[n:]]


# ----------------------------------------------------------------------------- streaming store

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


def _decode_or_error(read_bytes: Callable[[str], bytes], name: str, resolution: int,
                     crop: Crop) -> np.ndarray | str:
    try:
        return load_image(read_bytes(name), resolution, crop)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            zipfile.BadZipFile) as e:  # BadZipFile: CRC-32 mismatch of the member in the archive
        return f"{type(e).__name__}: {e}"


def stream_split(
    out_path: str | Path,
    candidates: Sequence[str],
    n: int | None,
    read_bytes: Callable[[str], bytes],
    resolution: int,
    crop: Crop,
    on_corrupt: OnCorrupt = "fail",
    *,
    executor: ThreadPoolExecutor,
    chunk_size: int = 256,
    progress: bool = True,
    desc: str = "",
) -> tuple[list[str], list[dict[str, str]], str]:
    """Decode the first ``n`` readable ``candidates`` into ``out_path``; bounded memory.

    ``n=None`` stores every readable candidate. Returns (source names in stored order,
    skipped [{"name", "error"}], sha256). With ``on_corrupt="fail"`` the first unreadable
    image raises :class:`ImageReadError` naming it; with ``"skip"`` it is listed and the
    next candidate takes its place.
    """
    if on_corrupt not in ("fail", "skip"):
        raise ValueError(f"on_corrupt must be 'fail' or 'skip', got {on_corrupt!r}")
    exact = n is not None
    n = len(candidates) if n is None else int(n)
    writer = NpyStreamWriter(out_path, (n, resolution, resolution, 3))
    it = iter(candidates)
    sources: list[str] = []
    skipped: list[dict[str, str]] = []
    try:
        with tqdm(total=n, unit="img", desc=desc, disable=not progress, leave=False) as bar:
            while writer.written < n:
                names = [name for _, name in zip(range(min(chunk_size, n - writer.written)), it)]
                if not names:
                    if not exact:
                        break
                    raise ImageReadError(
                        f"{desc or out_path}: only {writer.written} readable images for {n} "
                        f"requested ({len(skipped)} skipped: "
                        f"{', '.join(s['name'] for s in skipped[:5])}...)"
                    )
                results = list(executor.map(
                    lambda name: _decode_or_error(read_bytes, name, resolution, crop), names))
                good = []
                for name, res in zip(names, results):
                    if isinstance(res, str):
                        if on_corrupt == "fail":
                            raise ImageReadError(
                                f"{name}: unreadable image ({res}); set data.on_corrupt: skip "
                                f"to skip and list such files instead")
                        log.warning("skipping %s: %s", name, res)
                        skipped.append({"name": name, "error": res})
                    else:
                        good.append(res)
                        sources.append(name)
                if good:
                    writer.append(np.stack(good))
                bar.update(len(good))
        return sources, skipped, writer.commit(allow_fewer=not exact)
    except BaseException:
        writer.abort()
        raise


def default_workers() -> int:
    """Decoding threads: the CPUs this process may use, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def build_store(
    out_dir: str | Path,
    dataset: str,
    split_pools: Mapping[str, tuple[Sequence[str], int | None]],
    read_bytes: Callable[[str], bytes],
    resolution: int,
    crop: Crop,
    on_corrupt: OnCorrupt = "fail",
    *,
    workers: int | None = None,
    chunk_size: int = 256,
    progress: bool = True,
    **provenance: Any,
) -> Path:
    """Stream every split into ``out_dir`` (``<split>.npy``) and write the manifest last.

    ``split_pools[split] = (candidates in order, n)``, ``n=None`` meaning every readable
    candidate. Splits are filled in the mapping's order and a name used by one split is
    never used by a later one (so replacements for skipped images stay disjoint across
    splits). Returns the manifest path.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / store.MANIFEST).unlink(missing_ok=True)  # no stale commit marker while we write
    used: set[str] = set()
    splits: dict[str, dict[str, Any]] = {}
    skipped_all: dict[str, list[dict[str, str]]] = {}
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for split, (candidates, n) in split_pools.items():
            fresh = [name for name in candidates if name not in used]
            sources, skipped, sha = stream_split(
                out_dir / f"{split}.npy", fresh, n, read_bytes, resolution, crop, on_corrupt,
                executor=pool, chunk_size=chunk_size, progress=progress,
                desc=f"{dataset}/{resolution}/{split}",
            )
            used.update(sources)
            used.update(s["name"] for s in skipped)
            splits[split] = {"count": len(sources),
                             "shape": [len(sources), resolution, resolution, 3],
                             "sha256": sha, "sources": sources}
            skipped_all[split] = skipped
    seconds = time.perf_counter() - t0
    total = sum(info["count"] for info in splits.values())
    log.info("%s/%d: %d images in %.1f s (%.0f images/s)", dataset, resolution, total, seconds,
             total / max(seconds, 1e-9))
    return store.write_manifest(
        out_dir, dataset, resolution, splits,
        channels=3,
        crop=crop,
        resample="PIL LANCZOS (antialiased), after a strict centred crop",
        on_corrupt=on_corrupt,
        skipped=skipped_all,
        pillow_version=PIL.__version__,
        **provenance,
    )


# ----------------------------------------------------------------------------- CelebA

def prepare_celeba(
    raw_dir: str | Path,
    out_dir: str | Path,
    resolution: int,
    n_train: int | None = 150_000,
    n_val: int | None = 500,
    seed: int = 0,
    crop: Crop = 178,
    on_corrupt: OnCorrupt = "fail",
    *,
    files: Sequence["RemoteFile"] | None = None,
    verify_md5: bool = True,
    workers: int | None = None,
    chunk_size: int = 256,
    progress: bool = True,
) -> Path:
    """Build ``out_dir`` (train/val uint8 arrays + manifest) from the CelebA files in ``raw_dir``.

    Train images come from the official partition's train split (code 0), validation images
    from its valid split (code 1), ``n_train`` / ``n_val`` of them chosen by
    :func:`selection_order`. Images are read from ``img_align_celeba.zip`` (or an extracted
    ``img_align_celeba/``). ``verify_md5`` checks the archive and partition file against
    ``files`` (default: the real table) before use.
    """
    from metainv.data import celeba

    files = celeba.CELEBA_FILES if files is None else files
    raw_dir = Path(raw_dir)
    wanted = {celeba.PARTITION_FILE, celeba.ARCHIVE}
    if not (raw_dir / celeba.ARCHIVE).exists():
        wanted.discard(celeba.ARCHIVE)
        log.warning("%s missing; reading the extracted %s/ (its files cannot be md5-checked)",
                    raw_dir / celeba.ARCHIVE, raw_dir / celeba.IMAGE_DIR)
    md5s = celeba.verify_files(raw_dir, [f for f in files if f.name in wanted]) if verify_md5 else {}
    partition = celeba.read_partition(raw_dir / celeba.PARTITION_FILE)
    with celeba.CelebAImages(raw_dir) as images:
        missing = [n for n in partition["train"] + partition["valid"] if n not in images]
        if missing:
            raise FileNotFoundError(f"{images.source}: {len(missing)} images of the partition "
                                    f"are missing, e.g. {missing[:3]}")
        return build_store(
            out_dir, "celeba",
            {"val": (selection_order(partition["valid"], n_val, seed, "val"), n_val),
             "train": (selection_order(partition["train"], n_train, seed, "train"), n_train)},
            images.read_bytes, resolution, crop, on_corrupt,
            workers=workers, chunk_size=chunk_size, progress=progress,
            source="celeba",
            source_files={name: md5s.get(name) for name in sorted(wanted)},
            image_source=images.source.name,
            partition={"train": "list_eval_partition.txt code 0 (train)",
                       "val": "list_eval_partition.txt code 1 (valid)"},
            seed=int(seed),
            requested={"n_train": n_train, "n_val": n_val},
            created_by="metainv.data.preprocess.prepare_celeba",
        )
