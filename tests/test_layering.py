"""The package has two layers: algorithms never import a stage runner or the CLI, and a stage
never imports another stage.

Walks every module of src/metainv with ast and collects its imports (top level and inside
functions): a module of the algorithm layer or the plumbing that imports ``metainv.stages``
or ``metainv.cli`` runs an arrow back up, and a stage that imports another stage runs one
sideways (what two stages share belongs to the plumbing); both fail here.
"""

import ast
from pathlib import Path

import metainv

PACKAGE = Path(metainv.__file__).parent
UPPER = ("metainv.stages", "metainv.cli", "metainv.__main__")
#: Algorithm layer (reusable, pure): also must not import the plumbing that reads files.
ALGORITHMS = ("metainv.physics", "metainv.nets", "metainv.solvers", "metainv.meta", "metainv.metrics", "metainv.stats",
              "metainv.perceptual")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_walk_sees_imports_inside_functions():
    graph = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}
    assert "metainv.data.commands" in graph["metainv.cli"]  # lazy import inside build_parser
    assert "metainv.report.figures" in graph["metainv.stages.meta_train"]  # inside meta_train
    assert "metainv.reconstructors" in graph["metainv.stages.reconstruct"]


def stage_offences(graph: dict[str, set[str]]) -> list[str]:
    """``<stage> imports <other stage>`` for every stage module importing a sibling (the
    package ``metainv.stages`` itself holds no code to share)."""
    offences = []
    for name, found in graph.items():
        if not within(name, ("metainv.stages",)) or name == "metainv.stages":
            continue
        offences += [f"{name} imports {i}" for i in sorted(found)
                     if within(i, ("metainv.stages",)) and i != "metainv.stages" and not within(i, (name,))]
    return offences


def test_no_stage_imports_another_stage():
    graph = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}
    offences = stage_offences(graph)
    assert not offences, "\n".join(offences)


def test_the_stage_check_catches_a_sibling_import(tmp_path):
    """The check itself: a stage importing another (as reconstruct_meta did meta_train) fails."""
    path = tmp_path / "reconstruct_meta.py"
    path.write_text("def f():\n    from metainv.stages.meta_train import meta_train\n"
                    "from metainv.stages import tune_classical\n")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    offences = stage_offences({"metainv.stages.reconstruct_meta": found,
                               "metainv.stages.meta_train": {"metainv.recon"}})
    assert offences == ["metainv.stages.reconstruct_meta imports metainv.stages.meta_train",
                        "metainv.stages.reconstruct_meta imports metainv.stages.meta_train.meta_train",
                        "metainv.stages.reconstruct_meta imports metainv.stages.tune_classical"]


def test_no_module_below_the_stages_imports_a_stage_or_the_cli():
    offences = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if within(name, UPPER):
            continue
        offences += [f"{name} imports {i}" for i in sorted(imports(path)) if within(i, UPPER)]
    assert not offences, "\n".join(offences)


def test_algorithms_import_only_algorithms_and_the_error_classes():
    # metainv.specs: the typed specs are definitions (pydantic models, no I/O), read for defaults
    allowed = ALGORITHMS + ("metainv.errors", "metainv.specs")
    offences = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if not within(name, ALGORITHMS):
            continue
        offences += [f"{name} imports {i}" for i in sorted(imports(path))
                     if within(i, ("metainv",)) and i != "metainv" and not within(i, allowed)]
    assert not offences, "\n".join(offences)
