"""The docs site builds strictly, the README stays short with the two quick-start commands,
the configuration reference lists every key of config/config.yaml, and the README's figure
is drawn from numbers the results page states."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def load_hook():
    spec = importlib.util.spec_from_file_location("config_reference", ROOT / "docs" / "hooks" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = load_hook()


def test_docs_build_strictly(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    page = (tmp_path / "site" / "configuration" / "index.html").read_text()
    assert "inner_lr_lr" in page and "config-reference" not in page


def quick_start_commands() -> tuple[str, str]:
    """.ci/run's install-and-test line, and the same line running the quick workflow."""
    test = next(line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("python3 -m venv"))
    assert test.endswith("&& pytest")
    return test, test.removesuffix("pytest") + "snakemake --cores all --configfile config/quick.yaml"


def test_readme_is_short_and_holds_the_two_quick_start_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150
    for command in quick_start_commands():
        assert command in lines, command


def table_rows(markdown: str) -> dict[str, dict[str, list[str]]]:
    """{section anchor: {key: cells}} of the rendered reference (pipes in code spans kept)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in markdown.splitlines():
        heading = re.match(r"^## .*\{#([\w-]+)\}\s*$", line)
        if heading:
            current = sections.setdefault(heading.group(1), {})
        elif current is not None and line.startswith("| `"):
            cells, cell, code = [], "", False
            for i, ch in enumerate(line[1:], 1):
                if ch == "`":
                    code = not code
                if ch == "|" and not code and line[i - 1] != "\\":
                    cells.append(cell.strip())
                    cell = ""
                else:
                    cell += ch
            current[cells[0].strip("`")] = cells
    return sections


def object_variant(schema: dict, root: dict, data) -> dict:
    """The branch of a union ``data`` is an instance of (by discriminator, else by keys)."""
    variants = schema.get("oneOf", []) + schema.get("anyOf", [])
    if not variants or not isinstance(data, dict):
        return schema
    disc = schema.get("discriminator", {})
    if disc.get("propertyName") in data and disc.get("mapping"):
        return {"$ref": disc["mapping"][data[disc["propertyName"]]]}
    for variant in variants:
        props = ref.resolve(variant, root).get("properties", {})
        if props and set(data) <= set(props):
            return variant
    for variant in variants:  # a map (e.g. solver parameters by name) or None: the map
        if ref.resolve(variant, root).get("type") == "object":
            return variant
    return schema


def expected_keys(data, schema: dict, root: dict, section: str = ref.TOP, rel: str = ""):
    """(section, key, schema) for every key of ``data`` the reference must list."""
    schema = object_variant(schema, root, data)
    if ref.is_section(schema, root):
        section, rel, schema = ref.anchor(ref.def_name(schema["$ref"])), "", ref.resolve(schema, root)
    schema = object_variant(ref.resolve(schema, root), root, data)
    if isinstance(data, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, value in data.items():
            if key in props:
                path = f"{rel}.{key}" if rel else key
                yield section, path, props[key]
                yield from expected_keys(value, props[key], root, section, path)
            else:
                assert isinstance(extra, dict), f"{rel}.{key} is not in the schema"
                target = ref.resolve(object_variant(extra, root, value), root)
                if target.get("properties"):  # a map of objects: their keys are listed as <name>.key
                    yield from expected_keys(value, extra, root, section, f"{rel}.<name>" if rel else "<name>")
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for item in data:
            if isinstance(item, dict):
                yield from expected_keys(item, schema["items"], root, section, f"{rel}[]")


def test_config_reference_lists_every_key_of_config_yaml_with_default_and_description():
    schema = ref.config_json_schema()
    sections = table_rows(ref.render_reference(schema))
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    seen = set()
    for section, key, sub in expected_keys(config, schema, schema):
        seen.add((section, key))
        row = sections.get(section, {}).get(key)
        assert row is not None, f"{key} (section {section}) is missing from the reference"
        default = ref.fmt_value(sub["default"]) if "default" in sub else None
        assert row[2] == default if default else row[2] in ("—", "required"), (key, row)
        assert row[4].strip(), f"{key} has no description"  # the specs describe every field
    assert len(seen) > 60  # the keys config.yaml states: tasks, experiments, tables, claims, figures
    for section, key in (("def-inner", "steps"), ("def-outer", "inner_lr_lr"), ("def-metasolver", "step_size"),
                         ("def-tune", "grid"), ("def-denoiser", "noise_std")):
        assert key in sections[section], (section, key)


def test_the_renderer_reads_generated_schemas():
    """The shape pydantic writes: $defs and $ref, a discriminated union in a map, nullable
    anyOf with its constraint on the branch, const, an enum definition, lists of models."""
    schema = {
        "$defs": {
            "Inner": {"type": "object", "title": "Inner", "properties": {
                "steps": {"type": "integer", "minimum": 1, "default": 5, "description": "m"},
                "lr": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}], "default": None,
                       "description": "rate"}}},
            "Meta": {"type": "object", "title": "Meta", "properties": {
                "method": {"const": "meta", "default": "meta", "type": "string"},
                "inner": {"$ref": "#/$defs/Inner", "description": "the inner loop"}}},
            "Red": {"type": "object", "title": "Red", "required": ["method"], "description": "RED baseline",
                    "properties": {"method": {"const": "red", "type": "string"},
                                   "lam": {"type": "number", "exclusiveMinimum": 0, "default": 200}}},
            "Source": {"enum": ["sample", "celeba"], "type": "string", "title": "Source"},
        },
        "type": "object", "required": ["experiments"], "properties": {
            "source": {"$ref": "#/$defs/Source", "default": "celeba", "description": "images"},
            "experiments": {"type": "object", "description": "by id", "additionalProperties": {
                "oneOf": [{"$ref": "#/$defs/Meta"}, {"$ref": "#/$defs/Red"}],
                "discriminator": {"propertyName": "method", "mapping": {"meta": "#/$defs/Meta", "red": "#/$defs/Red"}}}},
            "extra": {"type": "array", "items": {"$ref": "#/$defs/Inner"}, "default": []}},
    }
    page = ref.render_reference(schema)
    rows = table_rows(page)
    assert set(rows) == {"top-level", "def-meta", "def-red", "def-inner"}  # Source is inlined
    assert rows["top-level"]["source"][1:4] == ["string", '`"celeba"`', '`"sample"` · `"celeba"`']
    assert "[Meta](#def-meta) \\| [Red](#def-red), chosen by `method`" in rows["top-level"]["experiments"][1]
    assert rows["top-level"]["extra"][1] == "array of [Inner](#def-inner)"
    assert rows["def-inner"]["lr"][1:5] == ["number \\| null", "`null`", "> 0", "rate"]
    assert rows["def-red"]["method"][1:3] == ['`"red"`', "required"]
    data = {"experiments": {"a": {"inner": {"steps": 3}}, "b": {"method": "red", "lam": 1}}}
    keys = {(s, k) for s, k, _ in expected_keys(data, schema, schema)}
    assert keys == {("top-level", "experiments"), ("def-meta", "inner"), ("def-inner", "steps"),
                    ("def-red", "method"), ("def-red", "lam")}


def fmt(value: float) -> str:
    return f"{value:.2f}".replace("-", "−")


def test_the_readme_figure_draws_the_numbers_the_results_page_states(tmp_path):
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import paper_vs_reproduction as figure
    finally:
        sys.path.pop(0)
    summary = pd.read_csv(ROOT / "docs" / "data" / "real_faces_summary.csv",
                          dtype={"a_setting": str, "b_setting": str}, keep_default_na=False)
    results = (ROOT / "docs" / "results.md").read_text()
    for r in summary.itertuples():
        assert f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}]" in results, r.comparison
        assert fmt(abs(r.mean_diff)) in results, r.comparison
    paper = figure.paper_differences(summary)
    assert paper[0] == pytest.approx(0.5) and paper[3] == pytest.approx(10.8)
    out = figure.draw(ROOT / "docs" / "data" / "real_faces_summary.csv", tmp_path / "fig.png")
    assert out.stat().st_size > 10_000 and (ROOT / "docs" / "img" / "paper_vs_reproduction.png").is_file()
