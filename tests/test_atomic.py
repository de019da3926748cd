"""Every output is written atomically (metainv.atomic, issue 13 item 3): a failure in the
middle of a write leaves the previous file byte for byte and no partial file beside it; PNGs
and .npz archives carry no volatile metadata, so the same inputs give the same bytes."""

import json
import os
import signal
import subprocess
import sys
import zipfile

import matplotlib.figure
import numpy as np
import pandas as pd
import pytest
import torch

from metainv import atomic
from metainv.recon import load_reconstruction, save_reconstruction
from metainv.report.figures import plot_training_curve
from metainv.report.tables import write_table


class DiskFull(OSError):
    pass


def files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("writer, payload", [
    (atomic.write_text, "new text"),
    (atomic.write_bytes, b"new bytes"),
    (atomic.write_json, {"new": 1}),
    (atomic.write_csv, pd.DataFrame({"a": [1, 2]})),
    (atomic.save_npy, np.arange(4)),
    (atomic.torch_save, {"w": torch.ones(2)}),
])
def test_a_failure_mid_write_keeps_the_previous_file_and_leaves_no_partial_file(tmp_path, monkeypatch, writer,
                                                                              payload):
    path = tmp_path / "out.bin"
    path.write_bytes(b"previous")
    real_fsync = atomic.os.fsync

    def fail(fd):  # everything is written to the temporary file, then the disk fills up
        raise DiskFull("no space left on device")

    monkeypatch.setattr(atomic.os, "fsync", fail)
    with pytest.raises(DiskFull):
        writer(path, payload) if writer is not atomic.torch_save else writer(payload, path)
    assert path.read_bytes() == b"previous" and files(tmp_path) == ["out.bin"]
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    writer(path, payload) if writer is not atomic.torch_save else writer(payload, path)
    assert path.read_bytes() != b"previous" and files(tmp_path) == ["out.bin"]


def test_an_exception_inside_atomic_open_removes_the_temporary_file(tmp_path):
    path = tmp_path / "metrics.csv"
    with pytest.raises(RuntimeError), atomic.atomic_open(path, "w") as f:
        f.write("index,MS")
        assert atomic.temp_path(path).exists() and not path.exists()
        raise RuntimeError("killed mid-write")
    assert files(tmp_path) == []
    with pytest.raises(ValueError):
        with atomic.atomic_open(path, "a"):
            pass


WRITER = """
import sys, time
from metainv import atomic
with atomic.atomic_open(sys.argv[1], "w") as f:
    f.write("index,MSE\\n0,0.0")  # the start of a file, then the process stops here
    f.flush()
    print("writing", flush=True)
    time.sleep(120)
"""


def test_a_temp_file_of_a_killed_writer_is_removed_by_the_next_writer_but_not_while_it_runs(tmp_path):
    """issue 18 item 5: a ``kill -9`` mid-write leaves ``<name>.<pid>.tmp``; the next write of
    that file removes it once its pid is dead, and leaves it alone while the writer runs."""
    path = tmp_path / "metrics.csv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline() == "writing\n"
        stale = tmp_path / f"metrics.csv.{child.pid}.tmp"
        assert files(tmp_path) == [stale.name]
        atomic.write_text(path, "index,MSE\n0,1.0\n")  # the other writer is alive: its file stays
        assert files(tmp_path) == ["metrics.csv", stale.name] and stale.read_text() == "index,MSE\n0,0.0"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL and stale.exists()  # kill -9 left it behind
    atomic.write_text(path, "index,MSE\n0,2.0\n")
    assert files(tmp_path) == ["metrics.csv"] and path.read_text() == "index,MSE\n0,2.0\n"


def test_only_the_stale_temp_files_of_the_file_written_are_removed(tmp_path):
    done = subprocess.Popen(["true"])
    done.wait()  # a pid that no longer runs
    dead = done.pid
    others = [f"table1.csv.{dead}.tmp", f"xmetrics.csv.{dead}.tmp", f"metrics.csv.bak.{dead}.tmp",
              f"metrics.csv.{dead}.tmp.keep", "metrics.csv.tmp"]
    for name in others + [f"metrics.csv.{dead}.tmp"]:
        (tmp_path / name).write_text("partial")
    alive = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / f"metrics.csv.{alive.pid}.tmp").write_text("partial")
        assert atomic.pid_alive(alive.pid) and not atomic.pid_alive(dead)
        atomic.write_csv(tmp_path / "metrics.csv", pd.DataFrame({"index": [0]}))
        assert files(tmp_path) == sorted(others + ["metrics.csv", f"metrics.csv.{alive.pid}.tmp"])
    finally:
        alive.kill()
        alive.wait()
    assert atomic.remove_stale_temps(tmp_path / "metrics.csv") == [tmp_path / f"metrics.csv.{alive.pid}.tmp"]
    assert files(tmp_path) == sorted(others + ["metrics.csv"])


def partial_then_fail(content):
    """A serialiser that writes the start of its output to its target, then fails."""

    def write(self, target, *args, **kwargs):
        data = content if isinstance(content, bytes) else content.encode()
        if hasattr(target, "write"):
            target.write(data if "b" in getattr(target, "mode", "b") else data.decode())
        else:
            with open(target, "wb") as f:
                f.write(data)
        raise DiskFull("no space left on device")

    return write


def test_tables_and_figures_survive_a_failed_rewrite(tmp_path, monkeypatch):
    metrics = tmp_path / "metrics.csv"
    pd.DataFrame({"index": [0, 1], "PSNR": [20.0, 22.0], "input_PSNR": [10.0, 11.0]}).to_csv(metrics, index=False)
    spec = {"title": "T", "paper_table": 1, "show_input": True, "metrics": ["PSNR"],
            "rows": [{"label": "Meta-2", "experiment": "m2", "paper_method": "Meta", "paper_setting": "m = 2"}]}
    out = tmp_path / "tables"
    write_table(1, spec, {"m2": metrics}, out / "table1.csv", out / "table1.md")
    before = {name: (out / name).read_bytes() for name in files(out)}
    with monkeypatch.context() as m:
        m.setattr(pd.DataFrame, "to_csv", partial_then_fail("label,metr"))
        with pytest.raises(DiskFull):
            write_table(1, spec, {"m2": metrics}, out / "table1.csv", out / "table1.md")
    assert {name: (out / name).read_bytes() for name in files(out)} == before

    log = tmp_path / "train_log.csv"
    pd.DataFrame({"step": [1, 2, 3], "loss": [1.0, 0.5, 0.25]}).to_csv(log, index=False)
    png = tmp_path / "figures" / "curve.png"
    plot_training_curve(log, png, "curve")
    before = png.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(matplotlib.figure.Figure, "savefig", partial_then_fail(b"\x89PNG\r\n"))
        with pytest.raises(DiskFull):
            plot_training_curve(log, png, "curve")
    assert png.read_bytes() == before and files(png.parent) == ["curve.png"]


def test_metrics_survive_a_failed_rewrite(tmp_path, monkeypatch):
    from metainv.data.sample import prepare_sample
    from metainv.stages.evaluate import evaluate

    data = prepare_sample(tmp_path / "data", 16, n_val=3, crops_per_portrait=0).parent
    x = torch.rand(3, 3, 16, 16)
    recon = save_reconstruction(tmp_path / "exp" / "recon.npz", x, x * 0.5)
    out = tmp_path / "exp" / "metrics.csv"
    evaluate(recon, data, out)
    before = out.read_bytes()
    monkeypatch.setattr(pd.DataFrame, "to_csv", partial_then_fail("index,MSE,PS"))
    with pytest.raises(DiskFull):
        evaluate(recon, data, out)
    assert out.read_bytes() == before and files(out.parent) == ["metrics.csv", "recon.npz"]


def test_figures_and_archives_are_byte_identical_for_the_same_inputs(tmp_path, monkeypatch):
    log = tmp_path / "log.csv"
    pd.DataFrame({"step": [1, 2, 3], "loss": [1.0, 0.5, 0.25]}).to_csv(log, index=False)
    a = plot_training_curve(log, tmp_path / "a.png", "curve").read_bytes()
    b = plot_training_curve(log, tmp_path / "b.png", "curve").read_bytes()
    assert a == b and b"Software" not in a and b"Matplotlib" not in a

    x = torch.rand(2, 3, 8, 8)
    first = save_reconstruction(tmp_path / "r1.npz", x, x / 2).read_bytes()
    monkeypatch.setattr("time.time", lambda: 2_000_000_000.0)  # a later clock: numpy stamps members with it
    second = save_reconstruction(tmp_path / "r2.npz", x, x / 2).read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "r2.npz") as z:
        assert {i.date_time for i in z.infolist()} == {atomic.ZIP_DATE}
    rec = load_reconstruction(tmp_path / "r2.npz")
    assert rec.recon.dtype == np.float16 and np.allclose(rec.recon, x.permute(0, 2, 3, 1).numpy(), atol=1e-3)
    assert json.loads(atomic.write_json(tmp_path / "j.json", {"b": 1, "a": 2}, sort_keys=True).read_text()) \
        == {"a": 2, "b": 1}
