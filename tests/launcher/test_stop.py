"""`tunecost stop RUN_ID` on a real local run whose launcher is gone (SIGKILL, or SIGHUP as a closed terminal sends):
the trainer, left training on its own, gets SIGTERM, saves a checkpoint and exits; the run is recorded `stopped` at
that step, and `launch --local --resume --max-steps N` finishes it at step N.

Deterministic: the run is launched for far more steps than it can train while the test looks (it cannot finish
before `stop`, however idle the machine), the test waits for the trainer's own progress line, not a sleep, and the
launcher is started with SIGHUP at its default, as in a terminal. WHY that last: a launcher that inherits an
ignored SIGHUP (nohup, a CI runner) rightly outlives the hangup and follows its job to the end; that, not a race,
is how the job was seen `succeeded` on an idle CI machine before (its launcher.wait(30) outlasted a 300-step run).
"""

from __future__ import annotations

import os
import signal
import subprocess

import psutil
import pytest

from tunecost.job import checkpoints

from .conftest import SINGLE
from .test_launch_local import _wait_for
from .test_launcher_killed import TUNECOST, _env, _launched, _resume, _runs

pytestmark = pytest.mark.slow  # real training runs


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


STEPS = 100_000  # more than any machine trains while the test looks: the job is still training when stopped


@pytest.mark.parametrize("launcher_signal", [signal.SIGKILL, signal.SIGHUP], ids=["sigkill", "sighup"])
def test_stop_ends_a_detached_job_at_a_checkpoint_and_resume_finishes_it(tmp_path, write_plan, launcher_signal):
    home = tmp_path / "home"
    with _launched(home, write_plan(SINGLE), steps=STEPS, save=STEPS) as (launcher, trainer):
        _wait_for(launcher, f"step 10/{STEPS}", timeout=180)  # the trainer has made progress
        os.kill(launcher.pid, launcher_signal)  # the launcher's own process, not a shell around it
        assert launcher.wait(timeout=30) == -launcher_signal  # it died of the signal (it did not finish the run)
        [run] = _runs(home)
        assert run["status"] == "running" and not _gone(trainer)  # detached: it trains on, and is seen to
        stopped = subprocess.run(TUNECOST + ["stop", run["id"]], env=_env(home), capture_output=True, text=True,
                                 timeout=300)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert _gone(trainer)
    step = int(checkpoints.newest_complete(home / "runs" / run["id"] / "output").name.split("-")[1])
    assert 10 <= step < STEPS  # the checkpoint SIGTERM made: --save-steps STEPS makes no other
    [run] = _runs(home)
    assert run["status"] == "stopped" and f"checkpointed at step {step}" in run["history"][-1]["note"]
    assert run["summary"]["stop_reason"] == "sigterm" and run["summary"]["steps"] == step
    assert f"checkpointed at step {step}" in stopped.stdout and f"--resume {run['id']}" in stopped.stdout
    result = _resume(home, run["id"], "--max-steps", str(step + 2))  # two more steps, not STEPS
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"step {step + 2}/{step + 2}" in result.stdout
    [done] = _runs(home)
    assert done["status"] == "succeeded" and done["summary"]["steps"] == step + 2 and done["resumes"] == [step]
    assert [h["status"] for h in done["history"]] == ["pending", "running", "stopped", "running", "succeeded"]
    assert done["history"][3]["note"] == f"resumed from checkpoint step {step} with max_steps {STEPS} -> {step + 2}"
