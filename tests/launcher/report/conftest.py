"""Real local runs for the report tests: the real training job on the tiny model, run once per test session.

Two runs land in one ledger: a free one (rate 0, the local default) tagged with HTML that must be escaped, and
one priced with a rate, as `--rate` would. The job is the real `python -m tunecost.job.train`; the ledger
record is written through the real Ledger the way a local launch writes it (create running, update with the
job's run_summary.json, set succeeded).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pytest

from tunecost.launcher.ledger import Ledger, now
from tunecost.launcher.run_record import RunRecord

EVIL_TAG = "<script>alert(1)</script>"
PRICED_TAG = "team-a"
PRICED_RATE = 1.8


@dataclass
class RealRuns:
    home: Path
    free: RunRecord
    priced: RunRecord

    def ledger_copy(self, target: Path) -> Path:
        """A private copy of the ledger home, for tests that add or change runs."""
        shutil.copytree(self.home, target)
        return target


def _run_local(ledger: Ledger, workdir: Path, run_id: str, tag: str, rate: float) -> RunRecord:
    out = workdir / run_id
    ledger.create(RunRecord(
        id=run_id, status="running", backend="local", created_at=now(), tag=tag, provider="local",
        price_per_hour=rate, method="qlora", model="tiny", output_dir=str(out),
        rate_source="--rate" if rate else "default 0 (local run)",
    ))
    dataset = files("tunecost.job").joinpath("demo_data.jsonl")
    cmd = [sys.executable, "-m", "tunecost.job.train", "--model", "tiny", "--method", "qlora",
           "--dataset", str(dataset), "--output-dir", str(out), "--max-steps", "3", "--seq-len", "64",
           "--micro-batch", "4", "--logging-steps", "1", "--run-id", run_id]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TUNECOST_HOME": str(ledger.home)})
    if done.returncode != 0:
        ledger.set_status(run_id, "failed", note=done.stderr[-500:])
        raise AssertionError(f"tiny training job failed:\n{done.stderr[-3000:]}")
    summary = json.loads((out / "run_summary.json").read_text())
    ledger.update(run_id, summary=summary)
    ledger.set_status(run_id, "succeeded", note=str(summary.get("stop_reason", "")))
    return ledger.get(run_id)


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory) -> RealRuns:
    """Two finished real local runs in a ledger under a session temp TUNECOST_HOME."""
    home = tmp_path_factory.mktemp("report-home")
    work = tmp_path_factory.mktemp("report-runs")
    ledger = Ledger(home)
    free = _run_local(ledger, work, "tiny-free", EVIL_TAG, 0.0)
    priced = _run_local(ledger, work, "tiny-priced", PRICED_TAG, PRICED_RATE)
    return RealRuns(home=home, free=free, priced=priced)


@pytest.fixture
def tunecost_cli():
    """Run the installed `tunecost` entry point (real CLI, real exit codes) with a given TUNECOST_HOME."""
    exe = Path(sys.executable).with_name("tunecost")

    def run(home: Path, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "TUNECOST_HOME": str(home), "COLUMNS": "200"}
        return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120, env=env)
    return run
