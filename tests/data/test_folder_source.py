"""prepare_folder: any folder of JPEG/PNG images through the same crop, resize and splits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from metainv.data import store
from metainv.data.folder import list_images, prepare_folder
from metainv.data.preprocess import ImageReadError, load_image

from data_fixtures import face_like_jpeg


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """14 images of mixed formats, sizes and modes, nested, plus files that must be ignored."""
    root = tmp_path_factory.mktemp("photos")
    (root / "holiday" / "day2").mkdir(parents=True)
    for i in range(8):
        (root / f"img_{i:02d}.jpg").write_bytes(face_like_jpeg(i, width=120 + 10 * i, height=90))
    for i in range(3):
        rgba = np.zeros((64, 48, 4), np.uint8)
        rgba[..., i] = 255
        rgba[..., 3] = 255
        Image.fromarray(rgba).save(root / "holiday" / f"p{i}.PNG")
    Image.fromarray(np.full((50, 50), 200, np.uint8)).save(root / "holiday" / "day2" / "grey.png")
    (root / "holiday" / "day2" / "x.jpeg").write_bytes(face_like_jpeg(99, 60, 80))
    (root / "holiday" / "day2" / "y.JPG").write_bytes(face_like_jpeg(98, 70, 70))
    (root / "notes.txt").write_text("not an image")
    (root / ".thumbs").mkdir()
    (root / ".thumbs" / "t.jpg").write_bytes(face_like_jpeg(5))
    return root


def test_list_images_finds_nested_images_only(photo_folder):
    names = list_images(photo_folder)
    assert len(names) == 14 and names == sorted(names)
    assert "holiday/day2/grey.png" in names and "holiday/p0.PNG" in names
    assert not any(n.endswith(".txt") or n.startswith(".") for n in names)


def test_prepare_folder_splits_shapes_and_values(tmp_path, photo_folder):
    prepare_folder(photo_folder, tmp_path, resolution=12, n_train=None, n_val=4, seed=1,
                   progress=False)
    manifest = store.read_manifest(tmp_path)
    train, val = store.load_split(tmp_path, "train"), store.load_split(tmp_path, "val")
    assert train.shape == (10, 12, 12, 3) and val.shape == (4, 12, 12, 3)
    assert train.dtype == np.uint8
    train_src, val_src = (manifest["splits"][s]["sources"] for s in ("train", "val"))
    assert not set(train_src) & set(val_src)
    assert sorted(train_src + val_src) == list_images(photo_folder)
    assert manifest["dataset"] == "folder" and manifest["crop"] == "square"
    for arr, src in ((train, train_src), (val, val_src)):
        for k, name in enumerate(src):
            assert (arr[k] == load_image(photo_folder / name, 12, "square")).all(), name
    k = (train_src + val_src).index("holiday/p1.PNG")
    img = np.concatenate([train, val])[k]
    assert (img[..., 1] == 255).all() and (img[..., [0, 2]] == 0).all()


def test_prepare_folder_deterministic_and_val_stable(tmp_path, photo_folder):
    kw = dict(resolution=8, n_val=3, seed=0, progress=False)
    prepare_folder(photo_folder, tmp_path / "a", n_train=5, **kw)
    prepare_folder(photo_folder, tmp_path / "b", n_train=5, workers=1, chunk_size=1, **kw)
    prepare_folder(photo_folder, tmp_path / "c", n_train=9, **kw)
    a, b, c = (store.read_manifest(tmp_path / d) for d in "abc")
    assert a["splits"] == b["splits"]
    assert c["splits"]["val"] == a["splits"]["val"]
    assert set(a["splits"]["train"]["sources"]) < set(c["splits"]["train"]["sources"])


def test_prepare_folder_corrupt_file(tmp_path, photo_folder):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.jpg").write_bytes(face_like_jpeg(i, 40, 40))
    (folder / "2.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(ImageReadError, match="2.jpg: unreadable image"):
        prepare_folder(folder, tmp_path / "fail", 8, n_val=1, progress=False)
    prepare_folder(folder, tmp_path / "skip", 8, n_val=1, on_corrupt="skip", progress=False)
    m = store.read_manifest(tmp_path / "skip")
    skipped = m["skipped"]["train"] + m["skipped"]["val"]
    assert [s["name"] for s in skipped] == ["2.jpg"]
    assert m["splits"]["train"]["count"] + m["splits"]["val"]["count"] == 4


def test_prepare_folder_errors(tmp_path, photo_folder):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        prepare_folder(tmp_path / "nope", tmp_path / "o", 8)
    with pytest.raises(ValueError, match="n_val=20 but the folder holds 14"):
        prepare_folder(photo_folder, tmp_path / "o", 8, n_val=20)
    with pytest.raises(ValueError, match="only 10 images remain"):
        prepare_folder(photo_folder, tmp_path / "o", 8, n_val=4, n_train=11)


def _tree_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_inputs_give_byte_identical_stores_and_manifests(tmp_path):
    """Two preparations of the same folder (one with an unreadable file, skipped) write the
    same bytes, whatever the chunking: no memory address, time or order leaks in."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(6):
        (folder / f"{i}.jpg").write_bytes(face_like_jpeg(i, 40, 40))
    (folder / "2.jpg").write_bytes(b"\xff\xd8\xff garbage")  # Pillow: "cannot identify <BytesIO …>"
    kw = dict(resolution=8, n_val=1, on_corrupt="skip", progress=False)
    prepare_folder(folder, tmp_path / "a", **kw)
    prepare_folder(folder, tmp_path / "b", workers=1, chunk_size=1, **kw)
    a, b = _tree_bytes(tmp_path / "a"), _tree_bytes(tmp_path / "b")
    assert sorted(a) == ["manifest.json", "train.npy", "val.npy"]
    assert a == b
    skipped = store.read_manifest(tmp_path / "a")["skipped"]
    assert [s["error"] for s in skipped["train"] + skipped["val"]] == [
        "UnidentifiedImageError: cannot identify image file '2.jpg'"]


def test_images_below_the_minimum_size_are_unreadable(tmp_path):
    """A 1×1 image is not upscaled into a flat training image: it fails or is skipped by name."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.jpg").write_bytes(face_like_jpeg(i, 40, 40))
    Image.fromarray(np.full((1, 1, 3), 128, np.uint8)).save(folder / "dot.png")
    Image.fromarray(np.full((30, 7, 3), 128, np.uint8)).save(folder / "sliver.png")  # 7×30 < 8
    with pytest.raises(ImageReadError, match=r"dot.png: unreadable image .*1×1, smaller than the "
                                             r"minimum side of 8 px \(data.min_size"):
        prepare_folder(folder, tmp_path / "fail", 16, n_val=1, progress=False)
    prepare_folder(folder, tmp_path / "skip", 16, n_val=1, on_corrupt="skip", progress=False)
    m = store.read_manifest(tmp_path / "skip")
    skipped = m["skipped"]["train"] + m["skipped"]["val"]
    assert sorted(s["name"] for s in skipped) == ["dot.png", "sliver.png"]
    assert m["min_size"] == 8 and m["splits"]["train"]["count"] + m["splits"]["val"]["count"] == 5
    # an explicit minimum overrides the default (resolution / 2)
    prepare_folder(folder, tmp_path / "small", 16, n_val=1, min_size=5, on_corrupt="skip",
                   progress=False)
    m = store.read_manifest(tmp_path / "small")
    assert [s["name"] for s in m["skipped"]["train"] + m["skipped"]["val"]] == ["dot.png"]
    with pytest.raises(ImageReadError, match="31×30, smaller than the minimum side of 32"):
        load_image(_png(31, 30), 64)
    assert load_image(_png(31, 30), 64, min_size=30).shape == (64, 64, 3)


def _png(w, h):
    import io

    buf = io.BytesIO()
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
