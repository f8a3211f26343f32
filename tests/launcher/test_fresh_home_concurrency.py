"""First use of a home by many processes at once: real `tunecost runs --json` processes and real writers
(Ledger.create in their own processes), released together on a new TUNECOST_HOME, never fail and lose nothing.

Before the ledger file was made whole (a temp file with the schema, hard-linked into place), a reader that opened
it between a sibling's create and its schema read "the ledger ... is empty (0 bytes: truncated ...)": 12 of 90.
Each process imports everything first and then waits for one shared start time, so their first ledger calls
collide within milliseconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tunecost.launcher.ledger.store import Ledger

READER = """import sys, time
from tunecost.launcher.cli import main
start = float(sys.argv[1])
time.sleep(max(start - time.time(), 0))
sys.argv = ["tunecost", "runs", "--json"]
main()
"""
WRITER = """import sys, time
from datetime import datetime, timezone
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.ledger.store import Ledger
start, run_id = float(sys.argv[1]), sys.argv[2]
time.sleep(max(start - time.time(), 0))
Ledger().create(RunRecord(id=run_id, status="pending", backend="local", created_at=datetime.now(timezone.utc)))
"""


def _round(home: Path, readers: int = 6, writers: int = 3) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "TUNECOST_HOME": str(home)}
    start = time.time() + 6.0  # time for every process to import (2 busy cores)
    procs = [subprocess.Popen([sys.executable, "-c", READER, str(start)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(readers)]
    procs += [subprocess.Popen([sys.executable, "-c", WRITER, str(start), f"tc-w{i}"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(writers)]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def test_readers_and_writers_started_together_on_a_new_home_all_succeed_and_lose_nothing(tmp_path):
    failures, lost = [], 0
    for n in range(2):
        home = tmp_path / f"home{n}"
        for result in _round(home):
            if result.returncode != 0:
                failures.append(result.stderr.strip()[-300:])
            elif result.stdout:
                assert isinstance(json.loads(result.stdout), list)
        stored = {r.id for r in Ledger(home).list()}
        lost += len({"tc-w0", "tc-w1", "tc-w2"} - stored)
        assert sorted(p.name for p in home.iterdir()) == ["ledger.sqlite"]  # no temp file left behind
    assert failures == [] and lost == 0
