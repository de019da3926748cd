"""``metainv download-celeba`` and ``metainv prepare``: the data subcommands of the CLI.

:func:`add_data_commands` registers both on the CLI's argparse subparsers; every value comes
from explicit flags (the workflow's rules pass them from ``config.data``), so the commands
are usable by hand too::

    metainv download-celeba --raw-dir data/raw/celeba --mirror https://example.org/celeba/
    metainv prepare --source celeba --raw-dir data/raw/celeba --resolution 64 \
        --out data/processed/celeba/64 --n-train 150000 --n-val 500 --seed 0
    metainv prepare --source folder --folder ~/photos --resolution 64 --out data/processed/folder/64
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI registers these commands in every job; preprocess (PIL, pydantic) loads at use
    from metainv.data.preprocess import Crop

#: ``data.crop: auto`` resolves per source: CelebA's 178×178 centre square, else the largest
#: centred square.
AUTO_CROP = {"celeba": 178, "folder": "square"}


def parse_crop(value: str | int | None, source: str) -> Crop:
    """Config/CLI crop → :data:`~metainv.data.preprocess.Crop` (auto | square | none | side)."""
    if value is None or str(value).lower() == "none":
        return None
    text = str(value).lower()
    if text == "auto":
        return AUTO_CROP[source]
    if text == "square":
        return "square"
    try:
        side = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"crop must be auto, square, none or a side in pixels, "
                                         f"got {value!r}") from None
    if side <= 0:
        raise argparse.ArgumentTypeError(f"crop side must be positive, got {side}")
    return side


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("all", "none", "null") else int(text)


def add_data_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``download-celeba`` and ``prepare`` on the CLI's subparsers."""
    p = subparsers.add_parser(
        "download-celeba",
        help="download and md5-verify the CelebA files into --raw-dir",
        description="Sources per file: a verified copy already in --raw-dir, each --mirror in "
                    "order, then Google Drive (unless --no-gdrive). Resumable; writes "
                    "checksums.md5 when every file is verified.",
    )
    p.add_argument("--raw-dir", type=Path, default=Path("data/raw/celeba"),
                   help="folder of the CelebA files (kept files are md5-verified)")
    p.add_argument("--mirror", action="append", default=[], metavar="URL",
                   help="base URL holding the files (or a template with {name}); repeatable")
    p.add_argument("--no-gdrive", dest="gdrive", action="store_false",
                   help="do not try Google Drive")
    p.add_argument("--retries", type=int, default=5, help="attempts per source and file")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP read")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=run_download_celeba)

    p = subparsers.add_parser(
        "prepare",
        help="crop, resize and store train/val images (CelebA or a folder of JPEG/PNG)",
        description="Writes <out>/{train.npy,val.npy,manifest.json} (uint8 N×H×W×3).",
    )
    p.add_argument("--source", choices=("celeba", "folder"), required=True, help="where the images come from")
    p.add_argument("--resolution", type=int, required=True, help="image side in pixels after the resize")
    p.add_argument("--out", type=Path, required=True, help="store folder to write")
    p.add_argument("--raw-dir", type=Path, default=Path("data/raw/celeba"),
                   help="CelebA files (source celeba)")
    p.add_argument("--folder", type=Path, default=None, help="image folder (source folder)")
    p.add_argument("--n-train", type=_optional_int, default=None,
                   help="training images ('all' = every available one)")
    p.add_argument("--n-val", type=_optional_int, default=500, help="validation images")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset and the split")
    p.add_argument("--crop", default="auto",
                   help="auto (celeba: 178, folder: square) | square | none | side in pixels")
    p.add_argument("--on-corrupt", choices=("fail", "skip"), default="fail",
                   help="an unreadable image fails naming the file, or is skipped and listed in the manifest")
    p.add_argument("--min-size", type=int, default=None, metavar="PX",
                   help="images whose shorter side is below PX are unreadable (failed or "
                        "skipped as --on-corrupt says); default: resolution // 2")
    p.add_argument("--workers", type=int, default=None, help="decoding threads")
    p.add_argument("--no-verify-md5", dest="verify_md5", action="store_false",
                   help="celeba: skip the md5 check of the archive")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=run_prepare)


def run_download_celeba(args: argparse.Namespace) -> int:
    from metainv.data.celeba import download_celeba

    paths = download_celeba(args.raw_dir, args.mirror, args.gdrive, retries=args.retries,
                            timeout=args.timeout, progress=args.progress)
    for path in paths.values():
        print(path)
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    crop = parse_crop(args.crop, args.source)
    common = dict(resolution=args.resolution, n_train=args.n_train, n_val=args.n_val,
                  seed=args.seed, crop=crop, on_corrupt=args.on_corrupt, workers=args.workers,
                  min_size=args.min_size,
                  progress=args.progress)
    if args.source == "celeba":
        from metainv.data.celeba import prepare_celeba

        manifest = prepare_celeba(args.raw_dir, args.out, verify_md5=args.verify_md5, **common)
    else:
        from metainv.data.folder import prepare_folder

        if args.folder is None:
            raise SystemExit("prepare --source folder needs --folder (config: data.folder)")
        if args.n_val is None:
            raise SystemExit("prepare --source folder needs a number for --n-val")
        manifest = prepare_folder(args.folder, args.out, **common)
    print(manifest)
    return 0
