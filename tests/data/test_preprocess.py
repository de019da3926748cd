"""prepare_celeba and the shared transforms: shapes, range, splits, determinism, corrupt JPEGs."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from metainv.data import store
from metainv.data.celeba import prepare_celeba, read_partition
from metainv.data.preprocess import (
    ImageReadError,
    crop_box,
    load_image,
    selection_order,
)

from data_fixtures import face_like_jpeg, image_name, make_mini_celeba

QUIET = dict(progress=False)


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------- transforms

def test_crop_box_is_the_centred_square():
    assert crop_box(178, 218, 178) == (0, 20, 178, 198)
    assert crop_box(178, 218, "square") == (0, 20, 178, 198)
    assert crop_box(300, 200, "square") == (50, 0, 250, 200)
    assert crop_box(178, 218, 140) == (19, 39, 159, 179)
    assert crop_box(10, 20, None) == (0, 0, 10, 20)
    with pytest.raises(ValueError, match="does not fit"):
        crop_box(178, 218, 200)


def test_crop_keeps_only_the_centre():
    """Red bands outside the 178×178 centre must not leak into the output (strict crop)."""
    arr = np.zeros((218, 178, 3), np.uint8)
    arr[:, :] = (0, 255, 0)
    arr[:20] = arr[198:] = (255, 0, 0)
    out = load_image(png_bytes(arr), 32, crop=178)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - (0, 255, 0)).max() <= 1
    uncropped = load_image(png_bytes(arr), 32, crop=None)
    assert uncropped[0, :, 0].min() > 200  # without the crop the top row is red


def test_resize_is_antialiased():
    """A 1-pixel checkerboard downsampled 178→32 must average to flat grey, not alias."""
    checker = ((np.indices((178, 178)).sum(0) % 2) * 255).astype(np.uint8)
    out = load_image(png_bytes(np.repeat(checker[..., None], 3, -1)), 32, crop=None)
    assert abs(out.mean() - 127.5) < 2 and out.std() < 3
    aliased = np.asarray(Image.fromarray(checker).resize((32, 32), Image.Resampling.NEAREST))
    assert aliased.std() > 100  # the check above can fail: nearest sampling aliases


def test_modes_are_converted_to_rgb():
    grey = np.full((40, 50), 77, np.uint8)
    assert (load_image(png_bytes(grey), 8) == 77).all()
    rgba = np.zeros((40, 40, 4), np.uint8)  # fully transparent → white
    assert (load_image(png_bytes(rgba), 8) == 255).all()
    im16 = Image.fromarray(np.full((20, 20), 65535, np.uint16))
    buf = io.BytesIO()
    im16.save(buf, format="PNG")
    assert (load_image(buf.getvalue(), 4) == 255).all()


def test_exif_orientation_is_applied():
    arr = np.zeros((20, 40, 3), np.uint8)  # wide: left half black, right half white
    arr[:, 20:] = 255
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the stored left edge becomes the top
    buf = io.BytesIO()
    im.save(buf, format="PNG", exif=exif)
    out = load_image(buf.getvalue(), 20, crop=None)
    assert out[0].mean() < 10 and out[-1].mean() > 245


def test_npy_stream_writer_matches_store_checksum(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (7, 4, 4, 3), dtype=np.uint8)
    w = store.NpyStreamWriter(tmp_path / "train.npy", data.shape)
    for chunk in np.array_split(data, 3):
        w.append(chunk)
    sha = w.commit()
    assert (np.load(tmp_path / "train.npy") == data).all()
    assert sha == store._sha256_file(tmp_path / "train.npy")
    assert sha == store.write_split(tmp_path / "ref", "train", data)  # byte-identical to np.save
    w = store.NpyStreamWriter(tmp_path / "val.npy", data.shape)
    w.append(data[:3])
    with pytest.raises(ValueError, match="3 images written, 7 expected"):
        w.commit()
    assert not (tmp_path / "val.npy").exists() and not (tmp_path / "val.npy.tmp").exists()
    w = store.NpyStreamWriter(tmp_path / "short.npy", (123456, 4, 4, 3))  # header shrinks in place
    w.append(data[:3])
    assert w.commit(allow_fewer=True) == store.write_split(tmp_path / "ref", "val", data[:3])
    assert (np.load(tmp_path / "short.npy") == data[:3]).all()


def test_selection_is_seeded_sorted_and_nested():
    pool = [f"{i:06d}.jpg" for i in range(100)]
    a = selection_order(pool, 10, 0, "train")
    assert a == selection_order(list(reversed(pool)), 10, 0, "train")
    assert a[:10] == sorted(a[:10]) and sorted(a) == pool
    assert a[:10] != selection_order(pool, 10, 1, "train")[:10]
    assert a[:10] != selection_order(pool, 10, 0, "val")[:10]
    assert set(a[:10]) <= set(selection_order(pool, 30, 0, "train")[:30])
    with pytest.raises(ValueError, match="only 100 available"):
        selection_order(pool, 101, 0, "train")


# ----------------------------------------------------------------------------- prepare_celeba

@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory, mini_celeba):
    return mini_celeba.place(tmp_path_factory.mktemp("raw") / "celeba")


def prepare(raw, out, files, **kw):
    args = dict(resolution=16, n_train=5, n_val=2, seed=0, crop=178, files=files, **QUIET)
    args.update(kw)
    return prepare_celeba(raw, out, **args)


def test_prepare_celeba_shapes_range_splits(tmp_path, raw_dir, mini_celeba):
    prepare(raw_dir, tmp_path, mini_celeba.files)
    manifest = store.read_manifest(tmp_path)
    partition = read_partition(raw_dir / "list_eval_partition.txt")
    train, val = store.load_split(tmp_path, "train"), store.load_split(tmp_path, "val")
    assert train.shape == (5, 16, 16, 3) and val.shape == (2, 16, 16, 3)
    assert train.dtype == val.dtype == np.uint8
    x = store.to_tensor(train)
    assert x.dtype == torch.float32 and x.shape == (5, 3, 16, 16)
    assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.05
    assert set(manifest["splits"]["train"]["sources"]) <= set(partition["train"])
    assert manifest["splits"]["val"]["sources"] == partition["valid"]  # n_val = whole valid split
    assert manifest["dataset"] == "celeba" and manifest["resolution"] == 16
    assert manifest["crop"] == 178 and manifest["seed"] == 0
    assert manifest["source_files"]["img_align_celeba.zip"] == mini_celeba.files[0].md5
    assert manifest["skipped"] == {"train": [], "val": []}
    # stored image i is the transform of the source it is listed with
    name = manifest["splits"]["train"]["sources"][3]
    expected = load_image(face_like_jpeg(int(name[:6])), 16, crop=178)
    assert (train[3] == expected).all()


def test_prepare_celeba_is_deterministic_and_independent_of_chunking(tmp_path, raw_dir, mini_celeba):
    prepare(raw_dir, tmp_path / "a", mini_celeba.files, resolution=8)
    prepare(raw_dir, tmp_path / "b", mini_celeba.files, resolution=8, chunk_size=2, workers=1)
    ma, mb = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in "ab")
    for f in ("manifest.json", "train.npy", "val.npy"):  # byte-identical, not only equal splits
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    prepare(raw_dir, tmp_path / "c", mini_celeba.files, resolution=8, seed=3)
    mc = store.read_manifest(tmp_path / "c")
    assert mc["splits"]["train"]["sources"] != ma["splits"]["train"]["sources"]
    prepare(raw_dir, tmp_path / "d", mini_celeba.files, resolution=8, n_train=7)
    md = store.read_manifest(tmp_path / "d")
    assert md["splits"]["val"] == ma["splits"]["val"]  # n_train does not move the val images
    assert set(ma["splits"]["train"]["sources"]) <= set(md["splits"]["train"]["sources"])


def test_prepare_celeba_checks_md5(tmp_path, raw_dir, mini_celeba):
    wrong = tuple(f.__class__(f.name, f.gdrive_id, "0" * 32) if f.name.endswith(".zip") else f
                  for f in mini_celeba.files)
    with pytest.raises(ValueError, match="img_align_celeba.zip: md5"):
        prepare(raw_dir, tmp_path, wrong)


def test_too_many_images_requested(tmp_path, raw_dir, mini_celeba):
    with pytest.raises(ValueError, match="9 images requested but only 8 available"):
        prepare(raw_dir, tmp_path, mini_celeba.files, n_train=9)


@pytest.fixture(scope="module")
def corrupt_raw(tmp_path_factory):
    bad = face_like_jpeg(3)[:300]  # truncated JPEG: header without image data
    mini = make_mini_celeba(corrupt={image_name(3): bad})
    return mini.place(tmp_path_factory.mktemp("raw_bad") / "celeba"), mini


def test_corrupt_jpeg_fails_with_its_name(tmp_path, corrupt_raw):
    raw, mini = corrupt_raw
    with pytest.raises(ImageReadError, match="000003.jpg: unreadable image"):
        prepare(raw, tmp_path, mini.files, n_train=None)
    assert not (tmp_path / "manifest.json").exists()
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupt_jpeg_is_skipped_listed_and_replaced(tmp_path, corrupt_raw):
    raw, mini = corrupt_raw
    pool = [image_name(i) for i in range(1, 9)]
    seed = next(s for s in range(100) if image_name(3) in selection_order(pool, 7, s, "train")[:7])
    prepare(raw, tmp_path, mini.files, n_train=7, seed=seed, on_corrupt="skip")
    manifest = store.read_manifest(tmp_path)
    train = manifest["splits"]["train"]
    assert train["count"] == 7 and len(train["sources"]) == 7
    assert image_name(3) not in train["sources"]
    assert sorted(train["sources"]) == sorted(set(pool) - {image_name(3)})
    assert [s["name"] for s in manifest["skipped"]["train"]] == [image_name(3)]
    assert store.load_split(tmp_path, "train").shape == (7, 16, 16, 3)
    with pytest.raises(ImageReadError, match="only 7 readable images for 8 requested"):
        prepare(raw, tmp_path / "eight", mini.files, n_train=8, on_corrupt="skip")
    prepare(raw, tmp_path / "all", mini.files, n_train=None, on_corrupt="skip")  # = all readable
    assert store.load_split(tmp_path / "all", "train").shape == (7, 16, 16, 3)
    assert store.read_manifest(tmp_path / "all")["splits"]["train"]["sources"] == sorted(
        set(pool) - {image_name(3)})
    prepare(raw, tmp_path / "again", mini.files, n_train=7, seed=seed, on_corrupt="skip",
            workers=1, chunk_size=3)
    for f in ("manifest.json", "train.npy", "val.npy"):  # a rerun writes the same bytes
        assert (tmp_path / "again" / f).read_bytes() == (tmp_path / f).read_bytes(), f


def test_damaged_archive_member_is_reported_by_name(tmp_path, mini_celeba):
    """A flipped byte inside a stored member fails zipfile's CRC-32 check → named error."""
    import hashlib
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in sorted(mini_celeba.jpegs.items()):
            zf.writestr(f"img_align_celeba/{name}", data)
    archive = bytearray(buf.getvalue())
    start = archive.find(mini_celeba.jpegs[image_name(4)])
    archive[start + 500] ^= 0x01
    raw = mini_celeba.place(tmp_path / "raw")
    (raw / "img_align_celeba.zip").write_bytes(bytes(archive))
    files = tuple(f.__class__(f.name, f.gdrive_id, hashlib.md5(archive).hexdigest())
                  if f.name == "img_align_celeba.zip" else f for f in mini_celeba.files)
    with pytest.raises(ImageReadError, match="000004.jpg: unreadable image.*CRC"):
        prepare(raw, tmp_path / "out", files, n_train=None)


def test_extracted_folder_layout_gives_the_same_store(tmp_path, raw_dir, mini_celeba):
    raw = tmp_path / "raw"
    mini_celeba.place(raw, names={"list_eval_partition.txt"})
    (raw / "img_align_celeba").mkdir()
    for name, data in mini_celeba.jpegs.items():
        (raw / "img_align_celeba" / name).write_bytes(data)
    prepare(raw, tmp_path / "extracted", mini_celeba.files, resolution=8)
    prepare(raw_dir, tmp_path / "zipped", mini_celeba.files, resolution=8)
    extracted, zipped = (store.read_manifest(tmp_path / d) for d in ("extracted", "zipped"))
    assert extracted["splits"] == zipped["splits"]
    assert extracted["image_source"] == "img_align_celeba"
