"""Embedded sample dataset: faces that ship inside installed packages, for offline runs.

* the 100 face images of ``skimage.data.lfw_subset()`` (25×25 grey, replicated to RGB);
* ``crops_per_portrait`` jittered square crops around the faces of two colour portraits
  that ship with the dependencies: ``skimage.data.astronaut()`` (Eileen Collins) and
  matplotlib's ``grace_hopper.jpg``.

Every image is resized (antialiased, Lanczos) to the requested resolution and the pool is
split train/val **by source photo** (:func:`split_by_photo`): the crops of one portrait are all
in training, so no validation image shows a photo seen in training. The LFW subset carries no
person identities (skimage documents 100 faces "randomly selected from the LFW dataset"), so
each LFW image counts as its own photo; none is a near-copy of another (highest normalised
correlation between two of the 100 faces: 0.84). The stores are written with
:func:`metainv.data.store.write_store` exactly like CelebA or a user's folder, so the quick
configuration runs the same code path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from metainv.data.store import write_store
from metainv.specs.config import Sample

CROPS = Sample.model_fields["crops_per_portrait"].default  # the one default

#: images of ``skimage.data.lfw_subset()`` used (all of them)
LFW_FACES = 100

# (centre x, centre y, side) of the face in each portrait, in pixels of the original image
PORTRAIT_FACES = {
    "skimage.data.astronaut": (215, 135, 190),
    "matplotlib/grace_hopper.jpg": (265, 215, 250),
}


def sample_count(crops_per_portrait: int = CROPS) -> int:
    """Images in the sample pool (known without building it: plan-time checks use it)."""
    return LFW_FACES + len(PORTRAIT_FACES) * int(crops_per_portrait)


def _portraits() -> dict[str, np.ndarray]:
    import matplotlib.cbook
    from skimage import data as skdata

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as im:
        hopper = np.asarray(im.convert("RGB"))
    return {"skimage.data.astronaut": skdata.astronaut(), "matplotlib/grace_hopper.jpg": hopper}


def _resize(image: np.ndarray, resolution: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((resolution, resolution), Image.LANCZOS))


def sample_images(resolution: int, crops_per_portrait: int = CROPS, seed: int = 0
                  ) -> tuple[np.ndarray, list[str]]:
    """All sample images as uint8 N×R×R×3 with one source name each (deterministic)."""
    from skimage import data as skdata

    rng = np.random.default_rng(seed)
    images, names = [], []
    faces = skdata.lfw_subset()[:LFW_FACES]
    for i, face in enumerate(faces):
        grey = (face * 255.0).round().astype(np.uint8)
        images.append(_resize(np.repeat(grey[..., None], 3, axis=-1), resolution))
        names.append(f"skimage.data.lfw_subset[{i}]")
    for name, portrait in _portraits().items():
        cx, cy, side = PORTRAIT_FACES[name]
        h, w = portrait.shape[:2]
        for j in range(crops_per_portrait):
            s = int(side * rng.uniform(0.85, 1.15))
            x0 = int(np.clip(cx - s // 2 + rng.integers(-s // 10, s // 10 + 1), 0, w - s))
            y0 = int(np.clip(cy - s // 2 + rng.integers(-s // 10, s // 10 + 1), 0, h - s))
            crop = portrait[y0 : y0 + s, x0 : x0 + s]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            images.append(_resize(np.ascontiguousarray(crop), resolution))
            names.append(f"{name}[crop {j}: x={x0} y={y0} side={s}]")
    return np.stack(images), names


def source_photo(name: str) -> str:
    """The photo an image was cut from: ``"skimage.data.astronaut[crop 3: …]"`` →
    ``"skimage.data.astronaut"``; an LFW image is its own photo."""
    return name.split("[crop ", 1)[0]


def split_by_photo(names: list[str], n_val: int, seed: int, n_train: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices) with no source photo on both sides.

    Validation images are drawn by a seeded permutation among the photos that gave a single
    image; photos that gave several (the portrait crops) stay whole in training. The training
    split lists those several-image photos first and the single-image ones last, so the tuning
    split (the tail of the training split, :func:`metainv.data.store.split_tuning`) shares no
    photo with the rest of training either, as long as it is no longer than that last block.
    """
    photos = [source_photo(n) for n in names]
    counts = {p: photos.count(p) for p in set(photos)}
    order = np.random.default_rng(seed).permutation(len(names))
    singles = [int(i) for i in order if counts[photos[i]] == 1]
    if not 0 < n_val <= len(singles) - 1:
        raise ValueError(f"data.n_val must lie in [1, {len(singles) - 1}] for the sample set "
                         f"(single-photo images; portrait crops stay in training), got {n_val}")
    val = set(singles[:n_val])
    train = [int(i) for i in order if i not in val]
    if n_train is not None:
        train = train[:n_train]
    train.sort(key=lambda i: counts[photos[i]] == 1)  # stable: several-image photos first
    return np.asarray(train, dtype=int), np.asarray(singles[:n_val], dtype=int)


def prepare_sample(out_dir: str | Path, resolution: int, n_val: int = 20, seed: int = 0,
                   crops_per_portrait: int = CROPS, n_train: int | None = None) -> Path:
    """Build the sample store at ``out_dir``, split by source photo (:func:`split_by_photo`);
    the manifest records each split's photos."""
    images, names = sample_images(resolution, crops_per_portrait, seed)
    train_idx, val_idx = split_by_photo(names, n_val, seed, n_train)
    return write_store(
        out_dir, "sample",
        train=images[train_idx], val=images[val_idx],
        train_sources=[names[i] for i in train_idx], val_sources=[names[i] for i in val_idx],
        seed=seed, crops_per_portrait=crops_per_portrait,
        split="by source photo: portrait crops all in training; validation drawn from LFW "
              "images, each its own photo (lfw_subset has no identities)",
        source_photos={"train": sorted({source_photo(names[i]) for i in train_idx}),
                       "val": sorted({source_photo(names[i]) for i in val_idx})},
        preprocessing=f"Lanczos resize to {resolution}×{resolution}",
    )
