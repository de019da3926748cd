"""Typed specs (metainv.specs): one definition per setting.

- a config file states only what changes the resolved configuration: a key whose removal
  leaves every resolved spec as it was restates a default (or the layer below) and fails;
- the package repeats no spec default as a literal (function defaults, ``.get`` fallbacks);
- the generated JSON schema is up to date and accepts every shipped configuration;
- non-finite numbers are refused for every float key, naming the key.
"""

from __future__ import annotations

import ast
import copy
import json
import math
import typing
from pathlib import Path

import jsonschema
import pytest
import yaml
from PIL import Image
from pydantic import BaseModel

import metainv
from metainv.config import deep_merge, resolve
from metainv.errors import ConfigError
from metainv.specs import METHODS, Config, config_json_schema, schema_path
from metainv.specs.config import Denoiser

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "config.yaml"
OVERLAYS = ["quick.yaml", "faces.yaml", "gpu-smoke.yaml"]
PACKAGE = Path(metainv.__file__).parent
#: Sections whose leaves are data (rows, claims, panels), not settings with defaults.
DATA_SECTIONS = ("tables", "claims", "figures")


@pytest.fixture(scope="module")
def faces_folder(tmp_path_factory):
    """A folder large enough for config/faces.yaml's splits (n_val 200 + tuning 100 + training)."""
    folder = tmp_path_factory.mktemp("faces")
    for i in range(320):
        Image.new("RGB", (8, 8), (i % 255, 0, 0)).save(folder / f"{i:03d}.png")
    return folder


def stacks(faces_folder):
    """(name, [raw layer dicts]) of every shipped configuration."""
    paper = yaml.safe_load(PAPER.read_text())
    out = [("config.yaml", [paper])]
    for name in OVERLAYS:
        layer = yaml.safe_load((REPO / "config" / name).read_text())
        layers = [paper, layer]
        if name == "faces.yaml":
            layers.append({"data": {"folder": str(faces_folder)}})
        out.append((name, layers))
    tiny = yaml.safe_load((REPO / "tests" / "workflow" / "tiny.yaml").read_text())
    out.append(("tiny.yaml", [paper, yaml.safe_load((REPO / "config" / "quick.yaml").read_text()), tiny]))
    return out


def resolved_view(layers) -> dict:
    config: dict = {}
    for layer in layers:
        config = deep_merge(config, layer)
    r = resolve(config)
    return {"config": {k: v for k, v in r.config.items() if k not in ("experiments", "experiment_defaults")},
            "experiments": r.all}


def leaves(tree, prefix=()):
    """Key paths of every leaf of a nested mapping (lists are leaves)."""
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            yield from leaves(value, path)
        else:
            yield path


def without(tree, path):
    tree = copy.deepcopy(tree)
    node = tree
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return tree


def test_config_files_state_only_what_changes_the_result(faces_folder):
    noops = []
    for name, layers in stacks(faces_folder):
        full = resolved_view(layers)
        top = layers[-2] if name == "faces.yaml" else layers[-1]
        index = layers.index(top)
        for path in leaves(top):
            if path[0] in DATA_SECTIONS:
                continue
            trial = list(layers)
            trial[index] = without(top, path)
            try:
                view = resolved_view(trial)
            except ConfigError:
                continue  # the key is needed
            if view == full:
                noops.append(f"{name}: {'.'.join(map(str, path))}")
    assert not noops, "keys that restate a default or the layer below:\n" + "\n".join(noops)


def spec_fields() -> dict[str, set]:
    """field name → its literal defaults, over every spec model (numbers and strings only)."""
    out: dict[str, set] = {}
    seen: set = set()

    def visit(model: type[BaseModel]):
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            default = info.get_default(call_default_factory=True)
            if isinstance(default, (int, float, str)) and not isinstance(default, bool):
                out.setdefault(name, set()).add(default)
            for member in _models(info.annotation):
                visit(member)

    for model in (Config, Denoiser, *METHODS.values()):
        visit(model)
    return out


def _models(annotation):
    args = typing.get_args(annotation)
    found = [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    for a in args:
        found += _models(a)
    return found


def package_modules():
    for path in PACKAGE.rglob("*.py"):
        if "specs" in path.relative_to(PACKAGE).parts:
            continue
        yield path


def test_the_package_repeats_no_spec_default():
    fields = spec_fields()
    offences = []
    for path in package_modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                positional = args.posonlyargs + args.args
                pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
                pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
                for arg, default in pairs:
                    if isinstance(default, ast.Constant) and arg.arg in fields \
                            and isinstance(default.value, (int, float, str)) and not isinstance(default.value, bool) \
                            and default.value not in (0, 1, "") and default.value in fields[arg.arg]:
                        offences.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}({arg.arg}={default.value!r})")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and len(node.args) == 2 and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value in fields and isinstance(node.args[1], (ast.Constant, ast.Dict, ast.List)) \
                    and not (isinstance(node.args[1], ast.Constant) and node.args[1].value is None):
                offences.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .get({node.args[0].value!r}, …)")
    assert not offences, "spec defaults repeated in the package:\n" + "\n".join(offences)


def test_the_json_schema_is_generated_from_the_specs_and_current():
    on_disk = json.loads(schema_path().read_text())
    assert on_disk == config_json_schema(), "run `python -m metainv.specs` to regenerate it"


def test_every_shipped_configuration_validates_against_the_json_schema(faces_folder):
    validator = jsonschema.Draft202012Validator(config_json_schema())
    for name, layers in stacks(faces_folder):
        merged: dict = {}
        for layer in layers:
            merged = deep_merge(merged, layer)
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(merged)]
        assert not errors, (name, errors[:5])
    bad = deep_merge(yaml.safe_load(PAPER.read_text()), {"experiments": {"meta_center_m2": {"inner": {"steps": 0}}}})
    assert list(validator.iter_errors(bad)), "the schema must refuse what the specs refuse"


def float_keys(model: type[BaseModel], prefix=()):
    """Dotted paths of float fields with a float default, recursively (first of each model)."""
    for name, info in model.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if isinstance(default, float):
            yield (*prefix, name)
        for member in _models(info.annotation):
            yield from float_keys(member, (*prefix, name))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_for_every_float_key(value):
    paper = yaml.safe_load(PAPER.read_text())
    checked = 0
    for path in list(float_keys(METHODS["meta"])):
        override: dict = {}
        node = override
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        config = deep_merge(paper, {"experiments": {"meta_center_m2": override}})
        with pytest.raises(ConfigError, match=r"config\.experiments\.meta_center_m2\." + r"\.".join(path) + ":"):
            resolve(config)
        checked += 1
    for path, where in ((("denoiser", "noise_std"), "config.denoiser.noise_std"),
                        (("tasks", "deblur", "operator", "kernel_std"), "config.tasks.deblur.operator.kernel_std")):
        override = {}
        node = override
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
        with pytest.raises(ConfigError, match=where.replace(".", r"\.") + ":"):
            resolve(deep_merge(paper, override))
        checked += 1
    assert checked >= 8
