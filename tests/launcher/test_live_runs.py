"""A run whose job is alive is never closed, rebuilt as stopped or resumed beside itself; a run of an earlier
tunecost (no alive.json) is closed once no process runs it; `tunecost stop` refuses what it cannot stop in one line.

The job here is a stand-in: a real process (python sleeping) whose command line is the job's, `-m
tunecost.job.train --config <run folder>/job_config.json`, so it is found as the job is (liveness.job_processes);
tests/launcher/test_stop.py stops a real training job."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

from tunecost.job.checkpoints import mark_complete
from tunecost.launcher.cli import app
from tunecost.launcher.ledger.liveness import Session, proc, write_session
from tunecost.launcher.ledger.run_folder import CONFIG_NAME, RunFolder
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.ledger.store import Ledger

RUN = "tc-261101-100000-live"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TUNECOST_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _folder(home: Path) -> Path:
    folder = home / "runs" / RUN
    (folder / "output").mkdir(parents=True)
    (folder / CONFIG_NAME).write_text(json.dumps({"model": "tiny", "method": "lora", "run_id": RUN}))
    return folder


@pytest.fixture
def stand_in_job(home) -> Iterator[subprocess.Popen]:
    """A live process with the job's command line on this run's config (it ignores nothing: SIGTERM ends it)."""
    folder = _folder(home)
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-m", "tunecost.job.train",
                            "--config", str(folder / CONFIG_NAME)], start_new_session=True)
    try:
        yield job
    finally:
        job.kill()
        job.wait()


def _record(status: str, backend: str = "local", **fields) -> RunRecord:
    return RunRecord(id=RUN, status=status, backend=backend, provider="local", gpu_count=1,
                     created_at=datetime(2026, 11, 1, 10, tzinfo=timezone.utc), **fields)


def _cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception,
                                                                                       SystemExit))
    return result


def _one_error(*args: str) -> str:
    result = _cli(*args)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_repair_rebuilds_a_run_whose_job_still_trains_as_running_and_resume_refuses_it(home, stand_in_job):
    write_session(RunFolder.of(home, RUN), Session(launcher=proc(stand_in_job.pid), job=proc(stand_in_job.pid), began=time.time()))
    home.joinpath("ledger.sqlite").write_bytes(b"garbage" * 100)  # damaged while the run trains
    assert _cli("runs", "--repair").exit_code == 0
    [run] = Ledger(home).list()
    assert run.status == "running" and "still running" in run.history[-1].note
    line = _one_error("launch", "--local", "--resume", RUN)
    assert "still running" in line and f"tunecost stop {RUN}" in line
    assert stand_in_job.poll() is None


def test_resume_never_starts_a_second_job_beside_a_live_one_the_ledger_calls_stopped(home, stand_in_job):
    """What an older `runs --repair` left: the ledger says stopped while the job trains on (no alive.json)."""
    ledger = Ledger(home)
    ledger.create(_record("running"))
    ledger.set_status(RUN, "stopped", "rebuilt by an older --repair")
    line = _one_error("launch", "--local", "--resume", RUN)
    assert f"is stopped in the ledger, but its job still runs (pid {stand_in_job.pid})" in line
    assert f"tunecost stop {RUN}" in line
    assert not list((home / "runs" / RUN).glob("*.log"))  # nothing was started


def test_a_run_of_an_earlier_version_without_alive_json_stays_running_while_its_job_lives(home, stand_in_job):
    Ledger(home).create(_record("running"))
    assert json.loads(_cli("runs", "--json").stdout)[0]["status"] == "running"
    assert "still running" in _one_error("launch", "--local", "--resume", RUN)


def test_a_run_of_an_earlier_version_without_alive_json_is_closed_once_no_process_runs_it(home):
    _folder(home)
    checkpoint = home / "runs" / RUN / "output" / "checkpoint-4"
    checkpoint.mkdir()
    (checkpoint / "trainer_state.json").write_text("{}")
    mark_complete(checkpoint, {"run_id": RUN})
    Ledger(home).create(_record("running"))
    [run] = json.loads(_cli("runs", "--json").stdout)
    assert run["status"] == "stopped", run["history"]
    assert "no process runs it" in run["history"][-1]["note"] and "checkpointed at step 4" in run["history"][-1]["note"]
    assert f"--resume {RUN}" in run["history"][-1]["note"]
    line = _one_error("stop", RUN)
    assert "is not running (it is stopped" in line and f"launch --local --resume {RUN}" in line


def test_stop_refuses_a_bad_id_a_finished_run_and_cloud_runs_in_one_line(home):
    assert "no run 'tc-nope'" in _one_error("stop", "tc-nope")
    ledger = Ledger(home)
    ledger.create(_record("running"))
    ledger.set_status(RUN, "succeeded", "done")
    assert "is not running (it is succeeded" in _one_error("stop", RUN)
    ledger.create(_record("running", backend="sky-managed").model_copy(update={"id": "tc-sky", "sky_job_id": 7}))
    line = _one_error("stop", "tc-sky")
    assert "SkyPilot managed job" in line and "sky jobs cancel 7" in line
    ledger.create(_record("running", backend="sky-cluster").model_copy(update={"id": "tc-cl"}))
    assert "sky down" in _one_error("stop", "tc-cl")


def test_stop_ends_a_job_whose_launcher_is_gone_even_when_the_ledger_lost_track_of_it(home, stand_in_job):
    ledger = Ledger(home)
    ledger.create(_record("running"))
    ledger.set_status(RUN, "stopped", "rebuilt by an older --repair")
    result = _cli("stop", RUN, "--timeout", "30")
    assert result.exit_code == 0, result.output
    assert stand_in_job.wait(timeout=10) == -15  # SIGTERM, to its process group
