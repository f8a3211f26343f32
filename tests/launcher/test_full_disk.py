"""A full disk and a read-only ledger, for real: a small tmpfs (and a read-only bind mount of the ledger file) in a
private mount namespace (`unshare -m`), so nothing outside the test sees them. Each is one honest line naming
the disk or the permissions, exit 2, and leaves nothing behind: no 0-byte ledger, no run folder, no temp file.
Skipped where mount namespaces are not allowed (not root, no unshare)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SINGLE

TUNECOST = f"{sys.executable} -c 'from tunecost.launcher.cli import main; main()'"
CREATE = (f"{sys.executable} -c 'from tunecost.launcher.ledger.store import Ledger, now; "
          "from tunecost.launcher.ledger.run_record import RunRecord; "
          "Ledger().create(RunRecord(id=\"tc-1\", status=\"running\", backend=\"sky-managed\", created_at=now()))'")
NOTE = (f"{sys.executable} -c 'from tunecost.launcher.ledger.store import Ledger; "
        "Ledger().set_status(\"tc-1\", \"stopped\", \"x\" * 400000)'")


def _namespaces() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces(), reason="needs root and unshare -m for a private tmpfs")


def _sh(script: str, mount: Path, size: str = "256k") -> subprocess.CompletedProcess:
    """`script` with a `size` tmpfs at `mount` and TUNECOST_HOME=$mount/home, in a private mount namespace."""
    mount.mkdir(exist_ok=True)
    env = {**os.environ, "TUNECOST_HOME": str(mount / "home"), "COLUMNS": "200"}
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           f"mount -t tmpfs -o size={size} tmpfs {mount} && cd {mount} && {script}"],
                          env=env, capture_output=True, text=True, timeout=300)


FILL = "(head -c 100000000 /dev/zero > fill 2>/dev/null; true)"


def _one_error(stderr: str) -> str:
    [line] = [ln for ln in stderr.strip().splitlines() if not ln.startswith("warning:")]
    assert line.startswith("error: ") and "Traceback" not in stderr, stderr
    return line


def test_a_launch_on_a_full_disk_in_a_fresh_home_is_one_line_and_leaves_nothing(tmp_path):
    done = _sh(f"{FILL}; {TUNECOST} launch --local --model tiny --dataset demo --max-steps 1; echo rc=$?; "
               "ls -A; ls -A home 2>&1", tmp_path / "m")
    line = _one_error(done.stderr)
    assert "No space left on device" in line and "nothing was recorded" in line and "permission" not in line
    assert "rc=2\nfill\n" in done.stdout and "No such file" in done.stdout  # no home, no ledger, no run folder


def test_creating_the_ledger_on_a_full_disk_names_the_disk_and_leaves_no_file(tmp_path):
    done = _sh(f"mkdir home && {FILL}; {CREATE}; echo rc=$?; ls -A home", tmp_path / "m")
    assert "disk holding the ledger" in done.stderr and "is full" in done.stderr, done.stderr
    assert "permission" not in done.stderr and "0 bytes" not in done.stderr
    assert done.stdout.endswith("rc=1\n")  # an empty home: no 0-byte ledger, no temp file


def test_a_disk_that_fills_mid_run_names_the_full_disk_not_a_rollback_and_loses_no_record(tmp_path):
    done = _sh(f"{CREATE} && {FILL}; {NOTE}; echo rc=$?; rm fill; {TUNECOST} runs --json", tmp_path / "m")
    assert "disk holding the ledger" in done.stderr and "is full" in done.stderr, done.stderr
    assert "rollback" not in done.stderr
    assert '"id": "tc-1"' in done.stdout and '"status": "running"' in done.stdout  # kept, as it was


@pytest.mark.parametrize("workload", ["flags", "plan file"])
def test_a_launch_with_a_read_only_ledger_is_one_line_and_leaves_no_run_folder(tmp_path, write_plan, workload):
    """With a plan file the launch also probes this machine's CPU for its estimate (cpu_probe.json) before the
    ledger refuses the record: that file goes too."""
    ro = "L=home/ledger.sqlite; mount --bind $L $L && mount -o remount,bind,ro $L"
    plan = f"{write_plan(SINGLE)} --model tiny" if workload == "plan file" else "--model tiny"
    done = _sh(f"{CREATE} && {ro} && {TUNECOST} runs --json >/dev/null && echo read-ok && "
               f"{TUNECOST} launch --local {plan} --dataset demo --max-steps 1; echo rc=$?; ls -A home",
               tmp_path / "m", size="64m")
    line = _one_error(done.stderr)
    assert "read-only" in line and "nothing was written" in line and "ledger.sqlite" in line
    assert done.stdout.splitlines() == ["read-ok", "rc=2", "ledger.sqlite"]  # no runs/ folder, no cpu_probe.json
