"""No module of tunecost imports itself back through others, lazily inside a function or not.

WHY: a circle works only while every import in it stays in the order it has today (or hides in a function), and
it says the pieces are in the wrong modules: the shared piece belongs in a module both can import. The graph is
read from the source with `ast` (nothing is imported), so it also sees imports that no test happens to run.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# folder -> package, as pyproject's [tool.setuptools.package-dir] maps them
PACKAGES = {"tunecost": "tunecost", "planner": "tunecost.planner", "launcher": "tunecost.launcher",
            "job": "tunecost.job", "pricing_data": "tunecost.pricing_data"}


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> file, for every .py file under the package folders."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that runs, at any depth (functions too); not those under `if TYPE_CHECKING:`."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        children = node.orelse if isinstance(node, ast.If) and _is_type_checking(node) else ast.iter_child_nodes(node)
        stack.extend(children)
    return found


def imported_modules(name: str, path: Path, modules: set[str]) -> set[str]:
    """The tunecost modules `name` (at `path`) imports: `from a import b` is a.b when that is a module, else a."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            child = f"{base}.{alias.name}"
            targets.add(child if child in modules else base)
    return {t for t in targets if t in modules and t != name}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = module_files(root)
    return {name: imported_modules(name, path, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each as one closed path through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(_closed_path(graph, set(group)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _closed_path(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group (breadth first)."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        later = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    later.append(nxt)
        frontier = later
    return sorted(group)


def test_no_module_imports_itself_back():
    found = cycles(import_graph())
    assert not found, "import circles (move the shared piece to a module both can import):\n" + "\n".join(
        " -> ".join(path) for path in found)


def test_the_graph_sees_lazy_relative_and_from_imports(tmp_path):
    """A circle made of a lazy relative import and a `from package import module` is found, so the test above
    can fail."""
    for folder in PACKAGES:
        (tmp_path / folder).mkdir()
    (tmp_path / "job" / "__init__.py").write_text("")
    (tmp_path / "job" / "a.py").write_text("def f():\n    from .b import g\n")
    (tmp_path / "job" / "b.py").write_text("from tunecost.job import a\n")
    (tmp_path / "job" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                           "    from tunecost.job import a\n")
    graph = import_graph(tmp_path)
    assert graph["tunecost.job.a"] == {"tunecost.job.b"} and graph["tunecost.job.c"] == set()
    assert cycles(graph) == [["tunecost.job.a", "tunecost.job.b", "tunecost.job.a"]]
