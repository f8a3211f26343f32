"""A record that cannot be read never blocks the ledger: every listing skips it with one warning naming its run,
`runs --repair` sets it aside (kept whole in the ledger's set_aside table) and rebuilds a local one from its folder;
and a record that would not read back is never written. Run in-process through typer's CliRunner."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunecost.launcher.ledger.run_folder import CONFIG_NAME
from tunecost.launcher.cli import app
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.ledger.store import SET_ASIDE, Ledger
from tunecost.planner.errors import UserError

from .conftest import SINGLE

NOT_JSON = "tc-261101-100000-bad1"
NULL_PRICE = "tc-261101-100000-bad2"  # what `--rate nan` wrote before: NaN dumped as null


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TUNECOST_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _record(run_id: str, **fields) -> RunRecord:
    return RunRecord(id=run_id, status=fields.pop("status", "running"), backend=fields.pop("backend", "local"),
                     created_at=datetime(2026, 11, 1, 10, tzinfo=timezone.utc), **fields)


def _damaged_ledger(home: Path) -> dict[str, str]:
    """A good succeeded run with a plan, plus two records that cannot be read; returns the stored bad texts."""
    ledger = Ledger(home)
    ledger.create(_record("tc-good", plan=SINGLE, estimated_hours=2.0, estimated_cost=2.38, gpu="A100-80GB",
                          gpu_count=1, price_per_hour=1.19, backend="sky-managed"))
    ledger.set_status("tc-good", "succeeded", actual_hours=1.5, actual_cost=1.785, summary={"steps": 10})
    for run_id in (NOT_JSON, NULL_PRICE):
        ledger.create(_record(run_id, status="pending"))
    bad = {NOT_JSON: "{not json",
           NULL_PRICE: _record(NULL_PRICE, status="stopped", provider="local").model_dump_json().replace('"price_per_hour":0.0',
                                                                                     '"price_per_hour":null')}
    with closing(sqlite3.connect(ledger.path)) as db, db:
        for run_id, text in bad.items():
            db.execute("UPDATE runs SET record = ? WHERE id = ?", (text, run_id))
    return bad


def _run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception,
                                                                                       SystemExit))
    return result


@pytest.mark.parametrize("command", [["runs"], ["runs", "--json"], ["report"], ["report", "--format", "csv"],
                                     ["calibrate", "--json"]])
def test_every_reader_skips_an_unreadable_record_with_one_warning_naming_it(home, command):
    _damaged_ledger(home)
    result = _run(*command)
    assert result.exit_code == 0, result.output
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert NOT_JSON in warning and NULL_PRICE in warning and "price_per_hour" in warning
    assert "tunecost runs --repair" in warning
    assert "tc-good" in result.stdout or command[0] == "calibrate"


def test_resuming_or_stopping_the_unreadable_run_names_it_in_one_line(home):
    _damaged_ledger(home)
    for command in (["launch", "--local", "--resume", NOT_JSON], ["stop", NULL_PRICE]):
        result = _run(*command)
        [line] = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and line.startswith("error: ")
        assert command[-1] in line and "cannot be read" in line and "--repair" in line, line


def test_repair_sets_unreadable_records_aside_whole_and_rebuilds_a_local_one_from_its_folder(home):
    bad = _damaged_ledger(home)
    folder = home / "runs" / NULL_PRICE  # a local run with a folder: the job's config and summary survive
    (folder / "output").mkdir(parents=True)
    (folder / CONFIG_NAME).write_text(json.dumps({"model": "tiny", "method": "lora", "price_per_hour": 0.5}))
    (folder / "output" / "run_summary.json").write_text(json.dumps({"steps": 8, "stop_reason": "sigterm",
                                                                    "total_seconds": 72.0}))
    result = _run("runs", "--repair")
    assert result.exit_code == 0, result.output
    said = result.stdout.splitlines()[0]
    assert "set aside 2 record(s)" in said and SET_ASIDE in said and NOT_JSON in said and NULL_PRICE in said
    assert f"rebuilt 1 local run(s) from their folders: {NULL_PRICE}" in said
    ledger = Ledger(home)
    runs = {r.id: r for r in ledger.list()}
    assert set(runs) == {"tc-good", NULL_PRICE}  # the good one untouched, the local one back
    assert runs["tc-good"].actual_cost == 1.785 and runs["tc-good"].plan == SINGLE
    assert runs[NULL_PRICE].status == "stopped" and runs[NULL_PRICE].summary.steps == 8
    assert runs[NULL_PRICE].rate == 0.5
    with closing(sqlite3.connect(ledger.path)) as db:
        kept = dict(db.execute(f"SELECT id, record FROM {SET_ASIDE}").fetchall())
    assert kept == bad  # never deleted: the very text, for a human to look at
    assert "warning" not in _run("runs").stderr
    again = _run("runs", "--repair")
    assert again.exit_code == 2 and "not damaged" in again.stderr


def test_a_diverged_loss_is_stored_as_nan_and_reads_back(home):
    """A NaN loss is a real measurement (the job writes it as NaN): the record holding it must read back."""
    ledger = Ledger(home)
    ledger.create(_record("tc-nan"))
    ledger.set_status("tc-nan", "failed", summary={"final_loss": float("nan"), "loss_curve": [[1, float("nan")]]})
    [run] = Ledger(home).list()
    assert run.summary.final_loss != run.summary.final_loss and run.summary.loss_curve[0][0] == 1
    assert json.loads(_run("runs", "--json").stdout)[0]["id"] == "tc-nan"


def test_a_record_that_would_not_read_back_is_never_written(home):
    ledger = Ledger(home)
    ledger.create(_record("tc-1"))
    broken = _record("tc-2").model_copy(update={"recoveries": "many"})  # model_copy does not validate
    with pytest.warns(UserWarning), pytest.raises(UserError, match=r"run 'tc-2': its record would not read back "
                                                                   r"\(recoveries: .*\); nothing was written"):
        ledger.create(broken)
    assert [r.id for r in ledger.list()] == ["tc-1"]
    with closing(sqlite3.connect(ledger.path)) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
