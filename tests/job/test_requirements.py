"""The `job` extra (what the tests run) and job/requirements.txt (what the VM installs) pin the same versions."""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)")


def _pins(lines) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) for m in (PIN.match(line.strip()) for line in lines) if m}


def test_job_extra_pins_what_the_vm_installs():
    vm = _pins(files("tunecost.job").joinpath("requirements.txt").read_text().splitlines())
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"  # the repository root, not the package
    extra = _pins(tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["job"])
    assert extra, "the job extra pins nothing"
    for name, version in extra.items():
        assert vm.get(name) == version, f"{name}: job extra {version}, job/requirements.txt {vm.get(name)}"
    assert set(vm) - set(extra) == {"torch"}  # torch is installed first, by hand, from the right wheel index


OPTIONAL = {"liger_kernel"}  # imported under try/except ImportError: the job runs without it


def _third_party_imports() -> set[str]:
    import ast
    import sys

    found = set()
    for path in Path(str(files("tunecost.job"))).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__"} - OPTIONAL


def test_every_package_the_job_imports_is_installed_on_the_vm():
    """The VM installs job/requirements.txt and nothing else: a job module importing an unpinned package (pydantic
    for run_summary.py) would fail there, after the instance is paid for."""
    vm = _pins(files("tunecost.job").joinpath("requirements.txt").read_text().splitlines())
    missing = _third_party_imports() - set(vm)
    assert not missing, f"job/ imports {sorted(missing)}, not pinned in job/requirements.txt"
