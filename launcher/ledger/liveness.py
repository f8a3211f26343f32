"""Is a local run still alive? The launcher writes runs/<id>/alive.json (its own and the job's pid and process
start time); `runs`, `report` and `launch --resume` reconcile every local run the ledger calls pending/running
(reconcile.py, which writes a dead run's outcome as a finished session's is written).

WHY pid + start time: a launcher killed by SIGKILL, a closed terminal or a reboot cannot update the ledger, and a
pid alone can be reused by another process after a reboot; the pair names one process. The job logs to the run's
file (not to the launcher's pipe), so it outlives its launcher and finishes: while it lives the run is running;
once both are gone the job's own run_summary.json (if this session wrote one) says how it ended, else it was
killed and is `stopped`, resumable from its newest complete checkpoint.

A run folder also counts as alive while any process runs the job on its config (job_processes): that finds the
job of a run from a tunecost that wrote no alive.json, and guards `launch --resume` and `runs --repair` against a
ledger that lost track of a live job.
"""

from __future__ import annotations

import os
from typing import Optional

import psutil
from pydantic import BaseModel, ValidationError

from tunecost.job.atomic import atomic_write
from tunecost.job.run_summary import RunSummary, read_summary
from tunecost.launcher.ledger.run_folder import RunFolder


class Proc(BaseModel):
    pid: int
    started: float  # the process's start time (psutil create_time): with the pid, one process


class Session(BaseModel):
    """One launcher process of a run (a start or a resume) and the job it started."""

    launcher: Proc
    job: Optional[Proc] = None
    began: float  # wall time the session began: a summary older than this is an earlier session's
    resume_step: Optional[int] = None


def proc(pid: Optional[int] = None) -> Proc:
    pid = os.getpid() if pid is None else pid
    return Proc(pid=pid, started=psutil.Process(pid).create_time())


def is_alive(p: Optional[Proc]) -> bool:
    if p is None:
        return False
    try:
        found = psutil.Process(p.pid)
        return abs(found.create_time() - p.started) < 1.0 and found.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def job_processes(folder: RunFolder) -> list[psutil.Process]:
    """Live processes running the training job on a config in this run folder (torchrun's too).

    WHY the command line: it is all a run of an older tunecost (no alive.json) leaves to find its job by, and a
    job process is the one thing that must never get a second one beside it in the same folder."""
    inside = str(folder.path.resolve()) + os.sep, str(folder.path) + os.sep
    found = []
    for candidate in psutil.process_iter(["cmdline", "status"]):  # one that vanishes or is not ours: None
        args = candidate.info.get("cmdline") or []
        if candidate.info.get("status") in (None, psutil.STATUS_ZOMBIE) or candidate.pid == os.getpid():
            continue
        if any(a.endswith(("job.train", "job/train.py")) for a in args) and any(a.startswith(inside) for a in args):
            found.append(candidate)
    return found


def live_pids(folder: RunFolder, session: Optional[Session] = None) -> list[int]:
    """The pids of this run folder's live launcher and job processes; empty when the run is over."""
    session = session or read_session(folder)
    pids = [p.pid for p in (session.launcher, session.job) if is_alive(p)] if session else []
    return pids + [p.pid for p in job_processes(folder) if p.pid not in pids]


def write_session(folder: RunFolder, session: Session) -> None:
    atomic_write(folder.alive, session.model_dump_json())


def read_session(folder: RunFolder) -> Optional[Session]:
    try:
        return Session.model_validate_json(folder.alive.read_text())
    except (OSError, ValidationError):
        return None


def summary_since(folder: RunFolder, began: float) -> Optional[RunSummary]:
    """The job's run_summary.json if the session that began at `began` wrote it, else None."""
    path = folder.summary
    try:
        if path.stat().st_mtime < began:
            return None
    except OSError:
        return None
    return read_summary(path)

