"""Throughput (images/s) and peak memory of preprocessing, through both data sources.

    python benchmarks/preprocess.py [--images DIR] [--resolutions 32 64 128] \
        [--workers 1 2] [--n-val 500] [--config config/config.yaml]

``--images`` is a folder of CelebA-like JPEGs (178×218); without it, 3,000 (``--synthetic``)
synthetic ones are written to a temporary folder. Each configuration runs in a fresh subprocess so that its
peak RSS (``ru_maxrss``) is its own; the RSS after imports (torch is imported by the store)
is printed too, so the difference is what preprocessing itself needs. The same images also
go through ``metainv.data.celeba.prepare_celeba`` via a fake CelebA layout (``img_align_celeba.zip`` +
``list_eval_partition.txt``, the last ``--n-val`` images marked valid) built in the temp dir.
Crop, seed and (by default) ``--n-val`` are the resolved config's ``data`` settings (``data.crop``
as :func:`metainv.data.commands.parse_crop` resolves it per source).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from _common import add_config_argument, config_paths, resolved_config
from metainv.data.commands import parse_crop

CHILD = r"""
import json, resource, sys, time, tracemalloc
from pathlib import Path
cfg = json.loads(sys.argv[1])
from metainv.data.celeba import RemoteFile
from metainv.data.folder import prepare_folder
from metainv.data.celeba import prepare_celeba
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
common = dict(resolution=cfg["res"], n_train=cfg["n_train"], n_val=cfg["n_val"], seed=cfg["seed"],
              crop=cfg["crop"], workers=cfg["workers"], progress=False)
if cfg["source"] == "folder":
    prepare_folder(cfg["images"], cfg["out"], **common)
else:
    files = [RemoteFile(n, "-", m) for n, m in cfg["md5"].items()]
    prepare_celeba(cfg["raw"], cfg["out"], files=files, **common)
seconds = time.perf_counter() - t0
_, py_peak = tracemalloc.get_traced_memory()
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = cfg["n_train"] + cfg["n_val"]
print(json.dumps({"images_per_s": n / seconds, "seconds": seconds, "rss_after_import_mb": rss0 / 1024,
                  "peak_rss_mb": rss1 / 1024, "tracemalloc_peak_mb": py_peak / 2**20}))
"""


def synthetic_jpegs(folder: Path, n: int) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:218, 0:178]
    for i in range(1, n + 1):
        f = rng.uniform(5, 30, 3)
        arr = np.stack([127 + 100 * np.sin(x / f[c] + y / f[(c + 1) % 3]) for c in range(3)], -1)
        Image.fromarray(arr.astype(np.uint8)).save(folder / f"{i:06d}.jpg", quality=90)


def fake_celeba(images: Path, raw: Path, n_val: int) -> dict[str, str]:
    """Zip ``images`` in CelebA's layout and mark the last ``n_val`` as valid; return md5s."""
    raw.mkdir(parents=True)
    names = sorted(p.name for p in images.glob("*.jpg"))
    with zipfile.ZipFile(raw / "img_align_celeba.zip", "w", zipfile.ZIP_STORED) as zf:
        for name in names:
            zf.write(images / name, f"img_align_celeba/{name}")
    (raw / "list_eval_partition.txt").write_text(
        "".join(f"{n} {int(k >= len(names) - n_val)}\n" for k, n in enumerate(names)))
    return {p: hashlib.md5((raw / p).read_bytes()).hexdigest()
            for p in ("img_align_celeba.zip", "list_eval_partition.txt")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=Path, default=None)
    ap.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--n-val", type=int, default=None, help="validation images (default: data.n_val)")
    ap.add_argument("--synthetic", type=int, default=3000, help="synthetic JPEGs written without --images")
    add_config_argument(ap)
    args = ap.parse_args()
    config = resolved_config(config_paths(args)).config
    data, seed = config["data"], int(config["seed"])
    args.n_val = args.n_val or int(data["n_val"])
    with tempfile.TemporaryDirectory(prefix="bench_preprocess_") as tmp:
        tmp = Path(tmp)
        images = args.images
        if images is None:
            images = tmp / "synthetic"
            synthetic_jpegs(images, args.synthetic)
        md5 = fake_celeba(images, tmp / "raw", args.n_val)
        n_total = len(list(images.glob("*.jpg")))
        crops = {s: parse_crop(data["crop"], s) for s in ("folder", "celeba")}
        print(f"{n_total} images from {images}; n_val={args.n_val}, crop {crops}, PIL LANCZOS")
        print(f"{'source':8} {'res':>4} {'workers':>7} {'images/s':>9} {'peak RSS MB':>12} "
              f"{'RSS after import':>17} {'tracemalloc MB':>15}")
        for source in ("folder", "celeba"):
            for res in args.resolutions:
                for workers in args.workers:
                    cfg = dict(source=source, res=res, workers=workers, images=str(images), seed=seed,
                               crop=crops[source],
                               raw=str(tmp / "raw"), md5=md5, out=str(tmp / "out" / source / str(res)),
                               n_val=args.n_val, n_train=n_total - args.n_val)
                    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)],
                                         check=True, capture_output=True, text=True).stdout
                    r = json.loads(out.strip().splitlines()[-1])
                    print(f"{source:8} {res:>4} {workers:>7} {r['images_per_s']:>9.0f} "
                          f"{r['peak_rss_mb']:>12.0f} {r['rss_after_import_mb']:>17.0f} "
                          f"{r['tracemalloc_peak_mb']:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
