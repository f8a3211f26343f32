"""No module of tunecost imports itself back through others, and none imports a layer above its own, lazily
inside a function or not.

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


# Layers, bottom first: a module may import its own group and groups of a lower rank, never a higher or an equal
# one. Packages: job <- planner <- launcher (the job runs alone on the VM; the planner never drives a run). Inside
# the planner, as the README's layout section lists them: the input vocabulary at the top level (spec, errors,
# home, corrections, money), then the market (what is for sale), the model (what a run needs: it reads GPU facts
# from the market), the --config readers, and the decision (every other top-level module). Inside the launcher:
#   ledger, output_file   the run records and run folders (closing dead runs too), and the one way a file is written
#   reports               what the records mean: a run's bill, expense report, sweep totals, calibration (data)
#   views | backends      side by side, never importing each other: views render plans and reports (text only),
#                         backends run a plan (they execute, print nothing but the job's lines, and plan nothing)
#   commands              one typer command each: read flags, call a backend or a report, hand the result to a view
#   cli                   the typer app
PACKAGE_RANKS = {"tunecost.job": 0, "tunecost.planner": 1, "tunecost.launcher": 2}
PLANNER_BASE = {"spec", "errors", "home", "corrections", "money"}
GROUP_RANKS = {
    "tunecost.planner": {"base": 0, "market": 1, "model": 2, "configs": 3, "decision": 4},
    "tunecost.launcher": {"ledger": 0, "output_file": 0, "reports": 1, "views": 2, "backends": 2, "commands": 3,
                          "cli": 4},
}


def _layer(module: str) -> tuple[str, str] | None:
    """(package, group) of a module; the group is "" for a package's __init__ and outside planner and launcher."""
    parts = module.split(".")
    package = ".".join(parts[:2])
    if package not in PACKAGE_RANKS:
        return None
    if package not in GROUP_RANKS or len(parts) < 3:
        return package, ""
    group = parts[2]
    if package == "tunecost.planner" and group not in GROUP_RANKS[package]:
        group = "base" if group in PLANNER_BASE else "decision"
    return package, group


def _upward(here: tuple[str, str], there: tuple[str, str]) -> bool:
    """Whether a module of layer `here` importing one of layer `there` breaks the order."""
    if here[0] != there[0]:
        return PACKAGE_RANKS[here[0]] < PACKAGE_RANKS[there[0]]
    if "" in (here[1], there[1]) or here[1] == there[1]:
        return False
    ranks = GROUP_RANKS[here[0]]
    return ranks[here[1]] <= ranks[there[1]] if here[1] != "decision" else False


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a higher (or an equal-ranked other) layer, as `importer -> imported`."""
    found = []
    for name in sorted(graph):
        for target in sorted(graph[name]):
            here, there = _layer(name), _layer(target)
            if here and there and _upward(here, there):
                found.append(f"{name} -> {target}")
    return found


def test_every_launcher_and_planner_group_has_a_rank():
    """A new folder under launcher/ or planner/ must be placed in the layer order, or the wall test would skip it."""
    for package, ranks in GROUP_RANKS.items():
        groups = {_layer(name)[1] for name in module_files() if name.startswith(package + ".")}
        assert groups <= set(ranks), f"give {sorted(groups - set(ranks))} a rank in GROUP_RANKS[{package!r}]"


def test_no_module_imports_a_layer_above_its_own():
    found = upward_imports(import_graph())
    assert not found, "upward imports (move the shared piece down to the lower layer):\n" + "\n".join(found)


def test_the_walls_see_a_lazy_upward_import(tmp_path):
    """A ledger module importing a backend inside a function, a backend importing a view (side by side), the
    planner importing the launcher, the market importing the model and the model the decision are found; a backend
    importing the ledger, a view a report, the model the spec and the decision the market are not, so the test
    above can fail and passes for the right reason."""
    for folder in PACKAGES:
        (tmp_path / folder).mkdir()
    for sub in ("ledger", "backends", "views", "reports"):
        (tmp_path / "launcher" / sub).mkdir()
    for sub in ("market", "model"):
        (tmp_path / "planner" / sub).mkdir()
    (tmp_path / "planner" / "market" / "offers.py").write_text("from tunecost.planner.model import memory\n")
    (tmp_path / "planner" / "model" / "memory.py").write_text("from tunecost.planner import spec, quote\n")
    (tmp_path / "planner" / "spec.py").write_text("")
    (tmp_path / "planner" / "quote.py").write_text("from tunecost.planner.market import offers\n")
    (tmp_path / "launcher" / "ledger" / "repair.py").write_text(
        "def f():\n    from tunecost.launcher.backends.job_config import NAME\n")
    (tmp_path / "launcher" / "backends" / "job_config.py").write_text(
        "from tunecost.launcher.ledger import repair\nfrom tunecost.launcher.views.sweep_view import print_sweeps\n")
    (tmp_path / "launcher" / "views" / "sweep_view.py").write_text("from tunecost.launcher.reports import sweep\n")
    (tmp_path / "launcher" / "reports" / "sweep.py").write_text("")
    (tmp_path / "planner" / "plan.py").write_text("import tunecost.launcher.ledger.repair\n")
    assert upward_imports(import_graph(tmp_path)) == [
        "tunecost.launcher.backends.job_config -> tunecost.launcher.views.sweep_view",
        "tunecost.launcher.ledger.repair -> tunecost.launcher.backends.job_config",
        "tunecost.planner.market.offers -> tunecost.planner.model.memory",
        "tunecost.planner.model.memory -> tunecost.planner.quote",
        "tunecost.planner.plan -> tunecost.launcher.ledger.repair"]


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
