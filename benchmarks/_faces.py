"""Face images for the science probes: the quick sample faces and real CelebA dev faces.

Splits (``train`` / ``tune`` / ``val``): choices are made on ``tune`` (held-out *training*
images); ``val`` is only scored.

* ``sample``: ``metainv.data.sample.sample_images`` split by source photo — validation and
  tuning are LFW faces (each its own photo), the 40 portrait crops (two photos) are training.
* ``celeba``: ``--celeba DIR`` (e.g. ../shared/data/celeba-dev/img_align_celeba, development
  only): the first 2,700 files (sorted) train, the next 100 tune, the last 200 validate.
  CelebA preprocessing as the package's: 178×178 centre square, Lanczos resize.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image


def _celeba(directory: str | Path, resolution: int) -> np.ndarray:
    cache = Path(os.environ.get("TMPDIR", "/tmp")) / f"metainv_celeba_dev_{resolution}.npy"
    if cache.exists():
        return np.load(cache)
    files = sorted(Path(directory).glob("*.jpg"))
    out = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            im = im.crop((left, top, left + s, top + s)).resize((resolution, resolution), Image.LANCZOS)
            out.append(np.asarray(im))
    arr = np.stack(out)
    np.save(cache, arr)
    return arr


def load_faces(source: str, resolution: int, celeba_dir: str | None = None
               ) -> dict[str, np.ndarray]:
    """{"train", "tune", "val"} → float32 N×3×R×R in [0, 1]."""
    if source == "sample":
        from metainv.data.sample import sample_images

        images, names = sample_images(resolution)
        lfw = [i for i, n in enumerate(names) if n.startswith("skimage.data.lfw_subset")]
        other = [i for i, n in enumerate(names) if not n.startswith("skimage.data.lfw_subset")]
        lfw = list(np.random.default_rng(0).permutation(lfw))
        split = {"val": lfw[:20], "tune": lfw[20:40], "train": lfw[40:] + other}
        arrays = {k: images[v] for k, v in split.items()}
    elif source == "celeba":
        if celeba_dir is None:
            raise ValueError("--celeba DIR is needed for source celeba")
        images = _celeba(celeba_dir, resolution)
        arrays = {"train": images[:2700], "tune": images[2700:2800], "val": images[2800:3000]}
    else:
        raise ValueError(source)
    return {k: (v.astype(np.float32) / 255.0).transpose(0, 3, 1, 2).copy() for k, v in arrays.items()}


def bootstrap_ci(d: np.ndarray) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of paired differences ``d``: the claims'
    own interval (:func:`metainv.stats.paired_bootstrap`, 10,000 resamples, seeded)."""
    from metainv.stats import paired_bootstrap

    d = np.asarray(d, dtype=np.float64)
    result = paired_bootstrap(d, np.zeros_like(d))
    return result.ci_low, result.ci_high


def psnr(x: np.ndarray, t: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Per-image PSNR (data range 1, x clipped); ``where`` restricts to a per-image mask."""
    err = (np.clip(x, 0, 1) - t) ** 2
    if where is None:
        mse = err.reshape(len(x), -1).mean(1)
    else:
        m = np.broadcast_to(where, err.shape).reshape(len(x), -1)
        mse = (err.reshape(len(x), -1) * m).sum(1) / m.sum(1)
    return 10 * np.log10(1.0 / np.maximum(mse, 1e-12))
