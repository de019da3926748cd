"""The package has two layers: algorithms never import a stage runner or the CLI.

Walks every module of src/metainv with ast and collects its imports (top level and inside
functions): a module of the algorithm layer or the plumbing that imports ``metainv.stages``
or ``metainv.cli`` runs an arrow back up and fails here.
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
    assert "metainv.stages.meta_train" in graph["metainv.cli"]  # lazy import inside a command
    assert any(within(i, ("metainv.stages",)) for i in graph["metainv.stages.reconstruct_meta"])


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
