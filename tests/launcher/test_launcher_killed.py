"""A launcher that dies other than by SIGINT/SIGTERM (SIGKILL, a closed terminal, a reboot) never leaves a run
stuck at `running`: the real launcher and trainer processes are SIGKILLed (os.kill of their pids), then `runs`
shows what the run really is, and `launch --local --resume` continues it to the right step count."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import psutil

import pytest

from tunecost.job import checkpoints

from .conftest import SINGLE
from .test_launch_local import _wait_for

pytestmark = pytest.mark.slow  # real training runs

TUNECOST = [sys.executable, "-c", "from tunecost.launcher.cli import main; main()"]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "TUNECOST_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def _hangup_as_in_a_terminal() -> None:
    """SIGHUP at its default (terminate), as a shell in a terminal starts a command: a test run under nohup or a
    CI runner that ignores SIGHUP would pass that on, and the launcher would outlive the hangup."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _start(home: Path, plan: Path, steps: int = 20, save: int = 5) -> subprocess.Popen:
    return subprocess.Popen(TUNECOST + ["launch", "--local", str(plan), "--model", "tiny", "--dataset", "demo",
                                        "--max-steps", str(steps), "--save-steps", str(save)],
                            env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_hangup_as_in_a_terminal)


def _trainer(launcher: subprocess.Popen) -> psutil.Process:
    """The launcher's child that runs the job (the launcher may first run other children, e.g. the CPU probe)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for kid in psutil.Process(launcher.pid).children():
            with contextlib.suppress(psutil.Error):
                if "tunecost.job.train" in kid.cmdline():
                    return kid
        time.sleep(0.05)
    raise AssertionError("the launcher started no trainer")


@contextlib.contextmanager
def _launched(home: Path, plan: Path, **options) -> Iterator[tuple[subprocess.Popen, psutil.Process]]:
    """A launcher running the plan and its trainer; the launcher is killed on the way out if still alive."""
    launcher = _start(home, plan, **options)
    try:
        yield launcher, _trainer(launcher)
    finally:
        if launcher.poll() is None:
            launcher.kill()


def _runs(home: Path) -> list[dict]:
    result = subprocess.run(TUNECOST + ["runs", "--json"], env=_env(home), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _resume(home: Path, run_id: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(TUNECOST + ["launch", "--local", "--resume", run_id, *flags], env=_env(home),
                          capture_output=True, text=True, timeout=240)


def _kill(proc, missing_ok: bool = False) -> None:
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        if not missing_ok:
            raise


def test_launcher_and_trainer_sigkilled_mid_training_then_runs_shows_stopped_and_resume_finishes(tmp_path,
                                                                                                 write_plan):
    home = tmp_path / "home"
    with _launched(home, write_plan(SINGLE)) as (launcher, trainer):
        _wait_for(launcher, "step 10/20", timeout=180)
        _kill(launcher)
        _kill(trainer)
        launcher.wait(timeout=30)
        trainer.wait(timeout=30)
    [run] = _runs(home)
    assert run["status"] == "stopped", run["history"]
    assert "died" in run["history"][-1]["note"] and f"--resume {run['id']}" in run["history"][-1]["note"]
    killed_at = int(checkpoints.newest_complete(home / "runs" / run["id"] / "output").name.split("-")[1])
    result = _resume(home, run["id"])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    [done] = _runs(home)
    assert done["status"] == "succeeded" and done["summary"]["steps"] == 20
    assert done["resumes"] == [killed_at] and done["summary"]["resumed_from"] == [killed_at]
    assert [h["status"] for h in done["history"]] == ["pending", "running", "stopped", "running", "succeeded"]


def test_launcher_sigkilled_alone_the_trainer_finishes_and_runs_records_its_summary(tmp_path, write_plan):
    """The trainer logs to the run's file, not to the dead launcher's pipe: it finishes instead of dying of a
    BrokenPipeError; until then the run is running (and cannot be resumed twice), then it is succeeded."""
    home = tmp_path / "home"
    with _launched(home, write_plan(SINGLE), steps=20, save=100) as (launcher, trainer):
        _wait_for(launcher, "step 10/20", timeout=180)
        _kill(launcher)
        launcher.wait(timeout=30)
        [run] = _runs(home)
        assert run["status"] == "running" and trainer.is_running()
        refused = _resume(home, run["id"])
        assert refused.returncode == 2 and "still running" in refused.stderr, refused.stderr
        trainer.wait(timeout=240)
    [run] = _runs(home)
    assert run["status"] == "succeeded", run["history"]
    assert run["summary"]["steps"] == 20 and run["summary"]["stop_reason"] == "max_steps"
    assert run["actual_hours"] > 0
    assert (home / "runs" / run["id"] / "output" / "adapter").is_dir()


def test_a_closed_output_pipe_leaves_the_job_training_and_the_launcher_records_its_end(tmp_path, write_plan):
    """`tunecost launch --local ... | head`: once its reader is gone the launcher's writes fail (EPIPE, as EIO on
    a closed terminal it outlives); that must neither kill the job nor record it failed."""
    home = tmp_path / "home"
    with _launched(home, write_plan(SINGLE), steps=20, save=100) as (launcher, trainer):
        _wait_for(launcher, "step 10/20", timeout=180)
        launcher.stdout.close()  # the reading end of its stdout: `head` has exited
        assert launcher.wait(timeout=240) == 0
    [run] = _runs(home)
    assert run["status"] == "succeeded" and run["summary"]["steps"] == 20, run["history"]


def test_killed_right_after_the_last_checkpoint_resume_trains_no_extra_step(tmp_path, write_plan):
    home = tmp_path / "home"
    for _ in range(3):  # the kill races the job's final save; a try where the job won proves nothing
        with _launched(home, write_plan(SINGLE), steps=12, save=12) as (launcher, trainer):
            output = None
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                found = list((home / "runs").glob("*/output/checkpoint-12/COMPLETE"))
                if found:
                    output = found[0].parent.parent
                    break
                time.sleep(0.002)
            _kill(trainer, missing_ok=True)
            _kill(launcher)
            launcher.wait(timeout=30)
        if output is not None and not (output / "run_summary.json").exists():
            break
    else:
        raise AssertionError("the job always finished before the kill")
    run_id = output.parent.name
    [run] = [r for r in _runs(home) if r["id"] == run_id]
    assert run["status"] == "stopped"
    result = _resume(home, run_id)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "step 13/12" not in result.stdout and "nothing left to train" in result.stdout
    [done] = [r for r in _runs(home) if r["id"] == run_id]
    assert done["status"] == "succeeded" and done["summary"]["steps"] == 12 and done["resumes"] == [12]
    assert (output / "adapter").is_dir()
