"""The shape of ``core``: no import circle among its modules (imports inside functions
included, so none can hide one), and one owner of the reads table's INSERT."""
from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported_modules(tree: ast.AST, modules: set[str]) -> set[str]:
    """The core modules a file imports, wherever the import statement stands (but not under
    ``if TYPE_CHECKING``, which never runs)."""
    found = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))
    return found & modules


def import_graph() -> dict[str, set[str]]:
    """Each core module -> the core modules it imports (a package's own ``__init__`` left
    out: importing a submodule runs it, and it imports nothing of its submodules)."""
    files = {module_name(path): path for path in CORE.rglob("*.py")}
    return {name: {target for target in imported_modules(ast.parse(path.read_text()), set(files))
                   if target != name and not name.startswith(f"{target}.")}
            for name, path in files.items()}


def test_the_graph_sees_imports_in_functions_and_skips_type_checking_ones():
    tree = ast.parse("from typing import TYPE_CHECKING\nfrom core import reads\n"
                     "if TYPE_CHECKING:\n    from core.store import Store\n"
                     "def f():\n    import core.quiz.flow\n")
    modules = {"core.reads", "core.store", "core.quiz.flow", "core.lexicon"}
    assert imported_modules(tree, modules) == {"core.reads", "core.quiz.flow"}


def test_no_import_circle_among_core_modules():
    graph = import_graph()
    assert sum(map(len, graph.values())) > 100  # the graph really holds core's imports
    assert "core.studies.definitions" in graph["core.studies.report"]
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        raise AssertionError(f"import circle: {' -> '.join(error.args[1])}") from None


def test_one_core_file_inserts_into_reads():
    owners = [path.relative_to(CORE.parent).as_posix() for path in CORE.rglob("*.py")
              if "INSERT INTO reads" in path.read_text()]
    assert owners == ["core/reads.py"]
