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
