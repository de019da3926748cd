"""Embedded sample dataset: faces that ship inside installed packages, for offline runs.

* the 100 face images of ``skimage.data.lfw_subset()`` (25×25 grey, replicated to RGB);
* ``crops_per_portrait`` jittered square crops around the faces of two colour portraits
  that ship with the dependencies: ``skimage.data.astronaut()`` (Eileen Collins) and
  matplotlib's ``grace_hopper.jpg``.

Every image is resized (antialiased, Lanczos) to the requested resolution and the pool is
split train/val by a seeded permutation, then written with :func:`metainv.data.store.write_store`
exactly like CelebA or a user's folder, so the quick configuration runs the same code path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from metainv.data.store import write_store

#: images of ``skimage.data.lfw_subset()`` used (all of them)
LFW_FACES = 100

# (centre x, centre y, side) of the face in each portrait, in pixels of the original image
PORTRAIT_FACES = {
    "skimage.data.astronaut": (215, 135, 190),
    "matplotlib/grace_hopper.jpg": (265, 215, 250),
}


def sample_count(crops_per_portrait: int = 20) -> int:
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


def sample_images(resolution: int, crops_per_portrait: int = 20, seed: int = 0
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


def prepare_sample(out_dir: str | Path, resolution: int, n_val: int = 20, seed: int = 0,
                   crops_per_portrait: int = 20, n_train: int | None = None) -> Path:
    """Build the sample store at ``out_dir`` (train/val split by a seeded permutation)."""
    images, names = sample_images(resolution, crops_per_portrait, seed)
    if not 0 < n_val < len(images):
        raise ValueError(f"data.n_val must lie in [1, {len(images) - 1}] for the sample set, got {n_val}")
    order = np.random.default_rng(seed).permutation(len(images))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if n_train is not None:
        train_idx = train_idx[:n_train]
    return write_store(
        out_dir, "sample",
        train=images[train_idx], val=images[val_idx],
        train_sources=[names[i] for i in train_idx], val_sources=[names[i] for i in val_idx],
        seed=seed, crops_per_portrait=crops_per_portrait,
        preprocessing=f"Lanczos resize to {resolution}×{resolution}",
    )
