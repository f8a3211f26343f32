"""A run folder's layout is written down once, in launcher/ledger/run_folder.py: no other launcher module spells
one of its names as a path (`folder / "output"`, `home / "runs"`, "alive.json").

WHY: the backends write the folder, and the ledger reads it back to close a dead run and to rebuild a lost record;
a name spelled twice drifts, and then a run's outcome is read from a file nobody writes. Read with `ast`, so a
name in a docstring or a message does not count, a name in a path does.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tunecost.launcher.ledger.run_folder import CONFIG_NAME, DRY_RUN, RUNS, RunFolder

ROOT = Path(__file__).resolve().parents[2]
FOLDER = RunFolder(Path("home") / RUNS / "tc-x")
NAMES = {RUNS, DRY_RUN, CONFIG_NAME, *(getattr(FOLDER, p).name for p in ("alive", "log", "output", "summary", "sky"))}


def spelled_paths(source: str) -> list[str]:
    """The run-folder names used as a path in this source: the right side of a `/`, or a file name on its own."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant) \
                and node.right.value in NAMES:
            found.append(node.right.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value \
                and node.value in NAMES:
            found.append(node.value)
    return found


def test_the_names_are_the_folders_own():
    assert {RUNS, DRY_RUN, CONFIG_NAME, "alive.json", "job.log", "output", "run_summary.json", "sky"} == NAMES


def test_no_launcher_module_spells_a_run_folder_path():
    found = {}
    for path in sorted((ROOT / "launcher").rglob("*.py")):
        if path.name != "run_folder.py":
            names = spelled_paths(path.read_text(encoding="utf-8"))
            if names:
                found[str(path.relative_to(ROOT))] = names
    assert not found, f"use RunFolder (launcher/ledger/run_folder.py) instead: {found}"


def test_the_check_sees_a_spelled_path_and_not_a_message():
    source = ('def f(home, folder):\n    """runs/<id>/alive.json"""\n    print("see job.log")\n'
              '    return home / "runs" / "x", folder / "output", "alive.json"\n')
    assert sorted(spelled_paths(source)) == ["alive.json", "output", "runs"]
