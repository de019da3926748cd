"""The CLI: every command documents every flag, shows defaults, and reports MetainvError
without a traceback."""

import argparse
import json

import pytest

from metainv import __version__
from metainv.cli import build_parser, main


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
    for rule in ("meta_train", "reconstruct_meta", "train_denoiser", "tune_classical", "solve_classical",
                 "evaluate", "table", "figure", "prepare_sample", "download_celeba"):
        assert rule.replace("_", "-") in names, rule


def test_a_bad_spec_is_reported_naming_the_key(tmp_path, caplog):
    spec = {"id": "x", "task": {"name": "t", "resolution": 16, "operator": {"kind": "inpaint_center"}},
            "inner": {"steps": 0}}
    code = main(["reconstruct-meta", "--spec", json.dumps(spec), "--data", str(tmp_path),
                 "--model", str(tmp_path / "m.pt"), "--out", str(tmp_path / "r.npz")])
    assert code == 1
    assert "inner.steps" in caplog.text
