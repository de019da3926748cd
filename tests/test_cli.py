"""The CLI: every command documents every flag, shows defaults, and reports MetainvError
without a traceback; every input error is one line naming the flag, exit status 1."""

import argparse
import json
import subprocess
import sys

import pytest
import torch

from metainv import __version__
from metainv.cli import COMMANDS, build_parser, main


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_flag_of_every_command_has_help():
    missing = [f"{name} {a.option_strings}" for name, sp in _subcommands().items()
               for a in sp._actions if a.dest != "help" and not a.help]
    assert not missing, missing


def test_help_shows_defaults_and_version(capsys):
    with pytest.raises(SystemExit):
        main(["meta-train", "--help"])
    assert "(default: auto)" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_commands_share_their_rule_names():
    names = set(_subcommands())
    for rule in ("meta_train", "reconstruct", "train_denoiser", "tune_classical", "train_unet", "train_unrolled",
                 "evaluate", "table", "figure", "claims", "step_curve", "prepare_sample", "download_celeba", "prepare"):
        assert rule.replace("_", "-") in names, rule
    # one reconstruct command for every method: the four it replaced are gone
    assert not names & {"reconstruct-meta", "solve-classical", "reconstruct-learned", "interpolate"}


def test_each_table_flag_fills_an_argument_of_its_stage():
    """The table's dests are the stages' parameter names (imported here, not by --help)."""
    import importlib
    import inspect

    for name, command in COMMANDS.items():
        module, _, function = command.stage.partition(":")
        params = inspect.signature(getattr(importlib.import_module(module), function)).parameters
        missing = [f.dest for f in command.flags if f.dest not in params]
        assert not missing, (name, missing)
        required = [p for p, v in params.items() if v.default is inspect.Parameter.empty]
        assert set(required) <= {f.dest for f in command.flags}, (name, required)


def test_help_does_not_import_torch():
    code = ("import sys\nfrom metainv.cli import main\n"
            "for argv in (['--help'], ['reconstruct', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            # the data commands are registered in every job; their image code loads at use
            "assert 'PIL' not in sys.modules, 'PIL imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "--denoiser" in out and "(default: auto)" in out


def test_a_bad_spec_is_reported_naming_the_key(tmp_path, caplog):
    spec = {"id": "x", "task": {"name": "t", "resolution": 16, "operator": {"kind": "inpaint_center"}},
            "inner": {"steps": 0}}
    code = main(["reconstruct", "--spec", json.dumps(spec), "--data", str(tmp_path),
                 "--model", str(tmp_path / "m.pt"), "--out", str(tmp_path / "r.npz")])
    assert code == 1
    assert "inner.steps" in caplog.text


SPEC = json.dumps({"id": "x", "task": {"name": "t", "resolution": 16, "operator": {"kind": "inpaint_center"}},
                   "inner": {"steps": 1}})


def _metainv(tmp_path, *argv):
    """Run the CLI as a user does; (exit status, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "metainv", *argv], capture_output=True, text=True, cwd=tmp_path)
    return proc.returncode, proc.stderr


def _one_line_naming(stderr: str, flag: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    assert flag in lines[0], stderr
    return lines[0]


@pytest.mark.parametrize("argv, flag", [
    (["reconstruct", "--spec", "{not json", "--data", ".", "--out", "r.npz"], "--spec"),
    (["reconstruct", "--spec", "@missing.yaml", "--data", ".", "--out", "r.npz"], "--spec"),
    (["reconstruct", "--spec", "[1, 2]", "--data", ".", "--out", "r.npz"], "--spec"),
    (["table", "--number", "1", "--spec", "{}", "--metrics", "exp_without_path", "--csv", "t.csv",
      "--md", "t.md"], "--metrics"),
    (["figure", "--spec", "{}", "--data", ".", "--recon", "a=r.npz", "--metrics", "=m.csv", "--out", "f.png"],
     "--metrics"),
    (["reconstruct", "--spec", SPEC, "--data", "."], "--out"),  # a required flag missing (argparse)
    (["reconstruct", "--spec", SPEC, "--data", ".", "--out", "r.npz", "--device", "tpu:x"], "--device"),
])
def test_an_input_error_is_one_line_naming_the_flag(tmp_path, argv, flag):
    code, stderr = _metainv(tmp_path, *argv)
    assert code == 1
    _one_line_naming(stderr, flag)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_one_line_naming_the_flag(tmp_path):
    from metainv.device import DeviceError, resolve_device
    from metainv.errors import MetainvError

    with pytest.raises(DeviceError, match="--device cuda"):
        resolve_device("cuda")
    assert issubclass(DeviceError, MetainvError)
    code, stderr = _metainv(tmp_path, "reconstruct", "--spec", SPEC, "--data", ".", "--out", "r.npz",
                            "--device", "cuda")
    assert code == 1
    assert "no CUDA device" in _one_line_naming(stderr, "--device")
    assert not (tmp_path / "r.npz").exists()
