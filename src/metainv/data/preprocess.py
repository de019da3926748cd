"""Preprocessing shared by every image source: split selection, crop + resize, streamed store.

The sources call :func:`build_store`: :func:`metainv.data.celeba.prepare_celeba`,
:func:`metainv.data.folder.prepare_folder`.

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
   An image whose shorter side is below ``min_size`` (default ``resolution // 2``,
   :func:`min_side`) is unreadable like a corrupt file: upscaling it would only make a flat,
   blurred training image.
3. **Streaming store**: images are decoded in chunks by a thread pool (Pillow releases the
   GIL while decoding and resampling) and appended through
   :class:`metainv.data.store.NpyStreamWriter` (the store module owns the format), then
   :func:`metainv.data.store.write_manifest` is written last. Peak memory is one chunk of
   images, independent of ``n``.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence, Union

import numpy as np
import PIL
from PIL import ExifTags, Image
from tqdm.auto import tqdm

from metainv.specs.config import Data
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


def min_side(resolution: int, min_size: int | None = None) -> int:
    """Smallest accepted shorter side of a source image: ``min_size``, else ``resolution // 2``."""
    return max(1, int(resolution) // 2) if min_size is None else int(min_size)


def load_image(
    source: bytes | str | Path,
    resolution: int,
    crop: Crop = "square",
    resample: Image.Resampling = RESAMPLE,
    min_size: int | None = None,
) -> np.ndarray:
    """Decode one image → centred crop → antialiased resize; uint8 ``resolution×resolution×3``.

    An image whose shorter side is below :func:`min_side` raises :class:`ImageReadError`.
    """
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
        need = min_side(resolution, min_size)
        if min(im.size) < need:
            raise ImageReadError(f"image is {im.width}×{im.height}, smaller than the minimum side "
                                 f"of {need} px (data.min_size; default: resolution / 2)")
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

#: a Python object's repr with its memory address, e.g. Pillow's ``<_io.BytesIO object at 0x7f…>``
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def error_text(e: BaseException, name: str) -> str:
    """``"Type: message"`` with object reprs replaced by ``name``: the same file gives the same
    text in every run (a memory address in a manifest would make it differ between runs)."""
    return _OBJECT_REPR.sub(repr(name), f"{type(e).__name__}: {e}")


def _decode_or_error(read_bytes: Callable[[str], bytes], name: str, resolution: int,
                     crop: Crop, min_size: int | None = None) -> np.ndarray | str:
    try:
        return load_image(read_bytes(name), resolution, crop, min_size=min_size)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            zipfile.BadZipFile) as e:  # BadZipFile: CRC-32 mismatch of the member in the archive
        return error_text(e, name)


def stream_split(
    out_path: str | Path,
    candidates: Sequence[str],
    n: int | None,
    read_bytes: Callable[[str], bytes],
    resolution: int,
    crop: Crop,
    on_corrupt: OnCorrupt = Data.model_fields["on_corrupt"].default,
    *,
    executor: ThreadPoolExecutor,
    chunk_size: int = 256,
    progress: bool = True,
    desc: str = "",
    min_size: int | None = None,
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
    writer = store.NpyStreamWriter(out_path, (n, resolution, resolution, 3))
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
                    lambda name: _decode_or_error(read_bytes, name, resolution, crop, min_size),
                    names))
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
    on_corrupt: OnCorrupt = Data.model_fields["on_corrupt"].default,
    *,
    workers: int | None = None,
    chunk_size: int = 256,
    progress: bool = True,
    min_size: int | None = None,
    **provenance: Any,
) -> Path:
    """Stream every split into ``out_dir`` (``<split>.npy``) and write the manifest last.

    ``split_pools[split] = (candidates in order, n)``, ``n=None`` meaning every readable
    candidate. Splits are filled in the mapping's order and a name used by one split is
    never used by a later one (so replacements for skipped images stay disjoint across
    splits). Returns the manifest path.
    """
    out_dir = store.begin_store(out_dir)
    used: set[str] = set()
    splits: dict[str, dict[str, Any]] = {}
    skipped_all: dict[str, list[dict[str, str]]] = {}
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for split, (candidates, n) in split_pools.items():
            fresh = [name for name in candidates if name not in used]
            sources, skipped, sha = stream_split(
                store.split_path(out_dir, split), fresh, n, read_bytes, resolution, crop, on_corrupt,
                executor=pool, chunk_size=chunk_size, progress=progress,
                desc=f"{dataset}/{resolution}/{split}", min_size=min_size,
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
        min_size=min_side(resolution, min_size),
        skipped=skipped_all,
        pillow_version=PIL.__version__,
        **provenance,
    )
