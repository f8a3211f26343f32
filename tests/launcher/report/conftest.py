"""Real local runs for the report tests: `tunecost launch --local` on the tiny model, once per test session.

Two runs land in one ledger, both started in parallel through the real CLI (real job, real ledger writes):
a free one (no --rate: priced at 0, the local default) tagged with HTML that must be escaped, and one
priced with --rate.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tunecost.launcher.ledger.store import Ledger
from tunecost.launcher.ledger.run_record import RunRecord

EVIL_TAG = "<script>alert(1)</script>"
PRICED_TAG = "team-a"
PRICED_RATE = 1.8
TUNECOST = Path(sys.executable).with_name("tunecost")


@dataclass
class RealRuns:
    home: Path
    free: RunRecord
    priced: RunRecord

    def ledger_copy(self, target: Path) -> Path:
        """A private copy of the ledger home, for tests that add or change runs."""
        shutil.copytree(self.home, target, ignore=shutil.ignore_patterns("runs"))
        return target


def _launch(home: Path, tag: str, rate: float | None) -> subprocess.Popen:
    cmd = [str(TUNECOST), "launch", "--local", "--model", "tiny", "--dataset", "demo", "--max-steps", "10",
           "--seq-len", "64", "--batch", "4", "--tag", tag]
    if rate is not None:
        cmd += ["--rate", str(rate)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TUNECOST_HOME": str(home)})


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory) -> RealRuns:
    """Two finished real local runs in a ledger under a session temp TUNECOST_HOME."""
    home = tmp_path_factory.mktemp("report-home")
    Ledger(home)  # create the ledger before two launches race to
    procs = [_launch(home, EVIL_TAG, None), _launch(home, PRICED_TAG, PRICED_RATE)]
    for proc in procs:
        output, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"tunecost launch --local failed:\n{output[-3000:]}"
    ledger = Ledger(home)
    (free,), (priced,) = ledger.list(tag=EVIL_TAG), ledger.list(tag=PRICED_TAG)
    assert free.status == priced.status == "succeeded"
    return RealRuns(home=home, free=free, priced=priced)


@pytest.fixture
def tunecost_cli():
    """Run the installed `tunecost` entry point (real CLI, real exit codes) with a given TUNECOST_HOME."""
    def run(home: Path, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "TUNECOST_HOME": str(home), "COLUMNS": "200"}
        return subprocess.run([str(TUNECOST), *args], capture_output=True, text=True, timeout=120, env=env)
    return run
