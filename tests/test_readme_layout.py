"""The README's "How the code is laid out" section describes the tree as it is, not a tidier one.

WHY: a newcomer walks the house by that section; it drifted once (a layout that no longer matched the folders).
Every file it names must exist, and every module of planner/ (rooms included) and job/ and every folder of
launcher/ and planner/ must be named.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMED = re.compile(r"[\w./-]*\w\.(?:py|csv|j2|md|txt)\b|[\w-]+/")


def layout_section(readme: str) -> str:
    start = readme.index("## How the code is laid out")
    end = readme.find("\n## ", start + 1)
    return readme[start:end if end > 0 else len(readme)]


def missing_files(section: str, root: Path = ROOT) -> list[str]:
    """Names in the section with no such file: a path is read from the root, a bare name anywhere in the tree."""
    present = {p.name for p in root.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts}
    names = {n for n in NAMED.findall(section) if not n.endswith("/")}
    return sorted(n for n in names if not ((root / n).exists() if "/" in n else n in present))


def unnamed_parts(section: str, root: Path = ROOT) -> list[str]:
    """Modules of planner/ (and its rooms) and job/ and folders of launcher/ and planner/ the section does not name."""
    words = set(re.findall(r"[\w.]+", section))
    parts = [p.name for folder, pattern in (("planner", "**/*.py"), ("job", "*.py"))
             for p in sorted((root / folder).glob(pattern)) if p.name != "__init__.py"]
    parts += [p.name for folder in ("launcher", "planner") for p in sorted((root / folder).iterdir())
              if p.is_dir() and p.name != "__pycache__"]
    return [p for p in parts if p not in words]


def test_the_layout_section_names_only_what_exists_and_all_of_it():
    section = layout_section((ROOT / "README.md").read_text(encoding="utf-8"))
    assert not missing_files(section), f"the README names files that are not there: {missing_files(section)}"
    assert not unnamed_parts(section), f"the README's layout leaves out: {unnamed_parts(section)}"


def test_the_layout_check_sees_a_missing_and_an_unnamed_file(tmp_path):
    for folder in ("planner/model", "job", "launcher/views"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "planner" / "memory.py").write_text("")
    (tmp_path / "planner" / "model" / "speed.py").write_text("")
    section = "planner/  memory.py, gone.py; `planner/memory.py`, `job/train.py`\nlauncher/\n"
    assert missing_files(section, tmp_path) == ["gone.py", "job/train.py"]
    assert unnamed_parts(section, tmp_path) == ["speed.py", "views", "model"]
