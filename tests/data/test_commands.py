"""The data subcommands' argument handling, run in-process on the miniature fixtures."""

from __future__ import annotations

import argparse

import pytest

from metainv.data import store
from metainv.data.celeba import DownloadError
from metainv.data.commands import add_data_commands, parse_crop

from data_fixtures import face_like_jpeg


def run(argv):
    parser = argparse.ArgumentParser(prog="metainv")
    add_data_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_parse_crop():
    assert parse_crop("auto", "celeba") == 178 and parse_crop("auto", "folder") == "square"
    assert parse_crop("square", "celeba") == "square"
    assert parse_crop("none", "folder") is None and parse_crop(None, "celeba") is None
    assert parse_crop(140, "celeba") == 140 and parse_crop("96", "folder") == 96
    for bad in ("big", "0", -3):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_crop(bad, "celeba")


def test_prepare_celeba_command(tmp_path, monkeypatch, mini_celeba):
    raw = mini_celeba.place(tmp_path / "raw")
    monkeypatch.setattr("metainv.data.celeba.CELEBA_FILES", mini_celeba.files)
    assert run(["prepare", "--source", "celeba", "--raw-dir", str(raw), "--resolution", "8",
                "--out", str(tmp_path / "out"), "--n-train", "all", "--n-val", "1",
                "--seed", "2", "--no-progress"]) == 0
    m = store.read_manifest(tmp_path / "out")
    assert m["splits"]["train"]["count"] == 8 and m["splits"]["val"]["count"] == 1
    assert m["crop"] == 178 and m["seed"] == 2


def test_prepare_folder_command(tmp_path):
    for i in range(6):
        (tmp_path / f"{i}.jpg").write_bytes(face_like_jpeg(i, 50, 40))
    run(["prepare", "--source", "folder", "--folder", str(tmp_path), "--resolution", "8",
         "--out", str(tmp_path / "out"), "--n-val", "2", "--crop", "none", "--no-progress"])
    m = store.read_manifest(tmp_path / "out")
    assert (m["splits"]["train"]["count"], m["splits"]["val"]["count"]) == (4, 2)
    assert m["crop"] is None
    with pytest.raises(SystemExit, match="needs --folder"):
        run(["prepare", "--source", "folder", "--resolution", "8", "--out", str(tmp_path / "o")])


def test_download_command_without_sources_explains_manual_placement(tmp_path):
    with pytest.raises(DownloadError, match="00d2c5bc6d35e252742224ab0c1e8fcb  img_align_celeba.zip"):
        run(["download-celeba", "--raw-dir", str(tmp_path), "--no-gdrive", "--no-progress"])
