"""`tunecost stop RUN_ID`: end a local run cleanly, as Ctrl-C in its launcher would, even when that launcher is gone.

SIGTERM goes to the job's process group (the job runs in its own session, with torchrun's workers if any): the job
saves a checkpoint at the end of its step, writes its summary and exits. Then the ledger records it: by the
launcher if it is still alive (it follows the job), else by ledger/reconcile.py, from the job's summary. The run is
`stopped` at the step it checkpointed, and `tunecost launch --local --resume RUN_ID` continues it.

WHY not kill: a SIGKILL loses the steps since the last checkpoint; SIGTERM is what a spot VM's shutdown sends and
what the job is built to survive.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Callable

from tunecost.launcher.ledger.liveness import is_alive, job_processes, read_session
from tunecost.launcher.ledger.reconcile import reconcile
from tunecost.launcher.ledger.run_folder import RunFolder
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.ledger.run_status import TERMINAL, RunStatus
from tunecost.launcher.ledger.store import Ledger
from tunecost.planner.errors import UserError

Echo = Callable[[str], None]


class StillRunning(Exception):
    """The job did not exit in time (a big checkpoint may still be writing)."""


def _refuse_cloud(record: RunRecord) -> None:
    """A cloud run is SkyPilot's to cancel: say how, rather than half-stop it from here."""
    if record.backend == "sky-managed":
        job = f" {record.sky_job_id}" if record.sky_job_id is not None else " <job id from `sky jobs queue`>"
        raise UserError(f"run '{record.id}' is a SkyPilot managed job; `tunecost stop` ends local runs only: cancel "
                        f"it with `sky jobs cancel{job}` (its checkpoints stay in the bucket)")
    raise UserError(f"run '{record.id}' runs on {record.backend}; `tunecost stop` ends local runs only: interrupt "
                    "its launcher (Ctrl-C), or cancel it with SkyPilot (`sky cancel` / `sky down` on its cluster)")


def _signal(pid: int) -> None:
    """SIGTERM to the job's whole process group when it leads one (it does: start_new_session), else to it."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def _targets(folder: RunFolder) -> tuple[list[int], list[int]]:
    """(job pids, launcher pids) alive now: the session's, and any job process on the folder's config."""
    session = read_session(folder)
    jobs = [p.pid for p in job_processes(folder)]
    if session and is_alive(session.job) and session.job.pid not in jobs:
        jobs.append(session.job.pid)
    launchers = [session.launcher.pid] if session and is_alive(session.launcher) else []
    return jobs, launchers


def stop_local(run_id: str, *, ledger: Ledger, echo: Echo, timeout: float = 300.0) -> RunRecord:
    """SIGTERM the run's job (its launcher, if the job has not started yet), wait for both to exit, and return the
    record as the ledger has it then. UserError for a run that is not local or not running."""
    record = ledger.get(run_id)
    if record.backend != "local":
        _refuse_cloud(record)
    reconcile(ledger)  # a run whose processes are gone is closed first: there is nothing to stop then
    folder = RunFolder.of(ledger.home, run_id)
    jobs, launchers = _targets(folder)
    if not jobs and not launchers:
        record = ledger.get(run_id)
        again = (f"; continue it with: tunecost launch --local --resume {run_id}"
                 if record.status in (RunStatus.STOPPED, RunStatus.FAILED) else "")
        raise UserError(f"run '{run_id}' is not running (it is {record.status}: no process of it is alive); "
                        f"nothing to stop{again}")
    echo(f"stopping {run_id}: the job saves a checkpoint at the end of its step, then exits")
    signalled: set[int] = set()
    deadline = time.monotonic() + timeout
    while jobs or launchers:
        for pid in jobs or launchers:  # the launcher only while no job runs: it forwards the signal itself
            if pid not in signalled:
                _signal(pid)
                signalled.add(pid)
        if time.monotonic() > deadline:
            raise StillRunning(f"run '{run_id}': its job (pid {', '.join(map(str, jobs or launchers))}) has not "
                               f"exited {timeout:g} s after SIGTERM; it may still be writing its checkpoint. Wait and "
                               f"see `tunecost runs`, or kill it (the last complete checkpoint stays)")
        time.sleep(0.2)
        jobs, launchers = _targets(folder)
    reconcile(ledger)  # the launcher was gone: record the outcome from the job's summary
    return ledger.get(run_id)


def stopped_line(record: RunRecord) -> str:
    """The one line `tunecost stop` prints: what the run is now, and how to continue it."""
    note = record.history[-1].note if record.history else ""
    if record.status in TERMINAL:
        return f"{record.id} {record.status}: {note}"
    return f"{record.id} is {record.status} in the ledger ({note}); its processes have exited"
