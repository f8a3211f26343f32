"""`tunecost runs`: the ledger as a table and as JSON, filtered by tag and time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from tunecost.launcher.ledger.store import Ledger
from tunecost.launcher.ledger.run_record import RunRecord

from .conftest import SINGLE

REQUIRED = {"id", "status", "backend", "offer", "estimated_hours",
            "estimated_cost", "actual_hours", "actual_cost", "recoveries", "summary"}


def _runs(home, *args, columns: int = 200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from tunecost.launcher.cli import main; main()", "runs", *args],
                          env={**os.environ, "TUNECOST_HOME": str(home), "COLUMNS": str(columns)},
                          capture_output=True, text=True, timeout=60)


def _fill(home) -> None:
    ledger = Ledger(home)
    ledger.create(RunRecord(id="tc-a", status="running", backend="sky-managed", tag="exp",
                            created_at=datetime(2026, 11, 1, tzinfo=timezone.utc), provider="runpod", region="US",
                            gpu="A100-80GB", gpu_count=1, spot=True, price_per_hour=1.19, estimated_hours=2.0,
                            estimated_cost=2.38, plan=SINGLE, task_yaml="name: x"))
    ledger.set_status("tc-a", "succeeded", actual_hours=1.5, actual_cost=1.785, recoveries=1,
                      summary={"steps": 120})
    ledger.create(RunRecord(id="tc-b", status="pending", backend="local",
                            created_at=datetime(2026, 11, 20, tzinfo=timezone.utc), provider="local",
                            gpu="cpu (2 cores)", gpu_count=1))
    ledger.set_status("tc-b", "stopped", "interrupted", resumes=[10])


def test_runs_json_lists_every_run_with_the_contract_fields(tmp_path):
    _fill(tmp_path)
    result = _runs(tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ["tc-a", "tc-b"]
    assert all(REQUIRED <= set(r) for r in rows)
    a = rows[0]
    assert (a["status"], a["actual_cost"], a["recoveries"], a["summary"]) == ("succeeded", 1.785, 1, {"steps": 120})
    assert (a["offer"]["provider"], a["offer"]["gpu"], a["offer"]["total_per_hour"]) == ("runpod", "A100-80GB", 1.19)
    assert "plan" not in a and "task_yaml" not in a  # bulky; in the ledger, not in the listing


def test_runs_filters_by_tag_and_time(tmp_path):
    _fill(tmp_path)
    assert [r["id"] for r in json.loads(_runs(tmp_path, "--json", "--tag", "exp").stdout)] == ["tc-a"]
    assert [r["id"] for r in json.loads(_runs(tmp_path, "--json", "--since", "2026-11-10").stdout)] == ["tc-b"]


def test_runs_table_shows_status_hardware_and_money(tmp_path):
    _fill(tmp_path)
    out = _runs(tmp_path).stdout
    for text in ("tc-a", "succeeded", "A100-80GB x1 spot runpod/US", "2.000 h $2.38", "1.500 h $1.78", "tc-b",
                 "stopped", "0, resumed at 10", "exp"):
        assert text in out, out


def test_run_ids_are_never_cut_in_a_narrow_terminal(tmp_path):
    """Ids are what users copy into `launch --resume` and `report`: whole even at 90 columns."""
    run_id = "tc-261123-134105-f70f"
    Ledger(tmp_path).create(RunRecord(id=run_id, status="running", backend="sky-managed", provider="runpod",
                                      created_at=datetime(2026, 11, 23, tzinfo=timezone.utc), gpu="A100-80GB"))
    out = _runs(tmp_path, columns=90).stdout
    assert run_id in out and "running" in out and "2026-11-23 00:00" in out, out


def test_no_runs_yet(tmp_path):
    result = _runs(tmp_path)
    assert result.returncode == 0 and "no runs yet" in result.stdout
    assert json.loads(_runs(tmp_path, "--json").stdout) == []


def test_a_day_in_until_includes_that_day_and_a_time_is_exact(tmp_path):
    """The same --since/--until as `report`: a bare day in --until is inclusive, a time is an exclusive bound."""
    _fill(tmp_path)

    def ids(*args: str) -> list[str]:
        done = _runs(tmp_path, "--json", *args)
        assert done.returncode == 0, done.stderr
        return [r["id"] for r in json.loads(done.stdout)]

    assert ids("--until", "2026-11-01") == ["tc-a"]  # created 2026-11-01 00:00 UTC
    assert ids("--until", "2026-11-19T23:59:59") == ["tc-a"]
    assert ids("--since", "2026-11-01T00:00:01") == ["tc-b"]
    assert ids("--since", "2026-11-01 00:00:00", "--until", "2026-11-20") == ["tc-a", "tc-b"]


def test_at_80_columns_every_id_figure_and_date_is_whole(tmp_path):
    """A narrow terminal stacks cells (id over date, status over tag, actual under estimate) instead of cutting."""
    _fill(tmp_path)
    out = _runs(tmp_path, columns=80).stdout
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80, out
    for text in ("tc-a", "tc-b", "succeeded", "stopped", "2.000 h $2.38", "1.500 h $1.78", "2026-11-01 00:00",
                 "2026-11-20 00:00", "1.19", "resumed"):
        assert text in out, out
