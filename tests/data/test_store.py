import numpy as np
import pytest
import torch

from metainv.data.sample import prepare_sample, sample_images, source_photo
from metainv.data.store import (
    StoreError, load_split, read_manifest, split_tuning, to_tensor, to_uint8, write_store,
)


def test_round_trip_and_checksum(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    val = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    write_store(tmp_path, "toy", train, val, list("abcde"), ["f", "g"], seed=1)
    assert np.array_equal(load_split(tmp_path, "train"), train)
    manifest = read_manifest(tmp_path)
    assert manifest["splits"]["val"]["sources"] == ["f", "g"] and manifest["resolution"] == 8
    # one flipped byte is caught and the file named
    raw = bytearray((tmp_path / "val.npy").read_bytes())
    raw[-1] ^= 0xFF
    (tmp_path / "val.npy").write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="val.npy: checksum"):
        load_split(tmp_path, "val")


def test_missing_store_names_the_rule(tmp_path):
    with pytest.raises(StoreError, match="no manifest"):
        load_split(tmp_path, "train")


def test_tensor_conversion_round_trip():
    images = np.random.default_rng(1).integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)
    t = to_tensor(images)
    assert t.shape == (3, 3, 4, 5) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    assert np.array_equal(to_uint8(t), images)


def test_sample_dataset_is_deterministic_and_split(tmp_path):
    images, names = sample_images(16, crops_per_portrait=3)
    assert images.shape == (106, 16, 16, 3) and images.dtype == np.uint8 and len(names) == 106
    prepare_sample(tmp_path / "a", 16, n_val=10, crops_per_portrait=3)
    prepare_sample(tmp_path / "b", 16, n_val=10, crops_per_portrait=3)
    a_val, b_val = load_split(tmp_path / "a", "val"), load_split(tmp_path / "b", "val")
    assert a_val.shape == (10, 16, 16, 3) and np.array_equal(a_val, b_val)
    assert load_split(tmp_path / "a", "train").shape == (96, 16, 16, 3)
    train_src = set(read_manifest(tmp_path / "a")["splits"]["train"]["sources"])
    val_src = set(read_manifest(tmp_path / "a")["splits"]["val"]["sources"])
    assert not train_src & val_src


@pytest.mark.parametrize("crops,n_val", [(20, 20), (4, 8), (3, 10)])
def test_no_quick_validation_image_shares_a_source_photo_with_training(tmp_path, crops, n_val):
    """No quick-data validation image shares a source photo with a training image (issue 10):
    checked on the images' own source names and on the photos the manifest records."""
    prepare_sample(tmp_path, 8, n_val=n_val, crops_per_portrait=crops)
    manifest = read_manifest(tmp_path)
    splits = manifest["splits"]
    train_photos = {source_photo(n) for n in splits["train"]["sources"]}
    val_photos = {source_photo(n) for n in splits["val"]["sources"]}
    assert len(splits["val"]["sources"]) == n_val and not train_photos & val_photos
    assert set(manifest["source_photos"]["val"]) == val_photos
    assert not set(manifest["source_photos"]["train"]) & set(manifest["source_photos"]["val"])
    # the portraits' crops are all in training and come first, so a tuning tail of the
    # training split shares no photo with the rest of training
    crop_names = [n for n in splits["train"]["sources"] if "[crop " in n]
    assert len(crop_names) == 2 * crops
    assert splits["train"]["sources"][: 2 * crops] == crop_names


def test_split_by_photo_rejects_more_validation_images_than_single_photos(tmp_path):
    with pytest.raises(ValueError, match="n_val"):
        prepare_sample(tmp_path, 8, n_val=100, crops_per_portrait=2)


def test_split_tuning_is_the_tail_of_the_training_split():
    fit, tuning = split_tuning(10, 3)
    assert list(range(10))[fit] == list(range(7)) and list(range(10))[tuning] == [7, 8, 9]
    with pytest.raises(StoreError, match="data.tuning"):
        split_tuning(10, 10)


def test_sample_store_is_byte_reproducible(tmp_path):
    for d in "ab":
        prepare_sample(tmp_path / d, 8, n_val=5)
    for f in ("manifest.json", "train.npy", "val.npy"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
