"""How a local session ended, written once: by its launcher when it sees the job exit (backends/local.py), or by
reconcile when the launcher and the job are both gone (a SIGKILL, a closed terminal, a reboot).

WHY in the ledger: every reader of the ledger (`runs`, `report`, `calibrate`, `stop`, `launch --resume`) closes
dead runs first, so it shows what a run is, not what a dead launcher last said; reading the ledger must not reach
up into a backend for that. The outcome rules are one function, so a session ended by its launcher and one closed
here read the same.
"""

from __future__ import annotations

import signal
from typing import Optional

from tunecost.job.checkpoints import newest_complete
from tunecost.job.run_summary import RunSummary, StopReason
from tunecost.launcher.ledger.liveness import live_pids, read_session, summary_since
from tunecost.launcher.ledger.run_folder import RunFolder
from tunecost.launcher.ledger.run_record import local_offer
from tunecost.launcher.ledger.run_status import STATUS_OF_STOP, RunStatus
from tunecost.launcher.ledger.store import Ledger
from tunecost.planner.market.offer import Offer


def checkpoint_step(folder: RunFolder) -> Optional[int]:
    """The step of the run's newest complete checkpoint; None before the first."""
    newest = newest_complete(folder.output)
    return int(newest.name.rsplit("-", 1)[1]) if newest is not None else None


def outcome(run_id: str, summary: Optional[RunSummary], code: Optional[int], interrupted: bool,
            died: Optional[str], last_error: str, checkpoint: Optional[int]) -> tuple[RunStatus, str]:
    """(status, note) of a session that ended: from the job's summary (its stop_reason through STATUS_OF_STOP),
    its exit code (None when the launcher did not see it exit) and whether it was interrupted or its launcher
    died. An interrupt or a non-zero exit overrides a summary that says it succeeded."""
    reason = summary.stop_reason if summary else None
    said = STATUS_OF_STOP.get(reason) if reason else None  # None: no summary, or one without a stop_reason
    again = f"continue with: tunecost launch --local --resume {run_id}"
    if reason is StopReason.SIGTERM or (interrupted and code != 0):
        steps = summary.steps if summary and summary.steps is not None else checkpoint
        return RunStatus.STOPPED, f"interrupted; checkpointed at step {steps}; {again}"
    if reason is StopReason.BUDGET:
        return RunStatus.STOPPED, f"budget guard stopped the job at ${summary.cost_usd or 0:.2f}"
    if said is RunStatus.SUCCEEDED and code in (0, None):
        own = f" ({died}; the job finished on its own)" if died else ""
        return RunStatus.SUCCEEDED, f"stop_reason {reason}{own}"
    if died and said is not RunStatus.FAILED:
        at = f"checkpointed at step {checkpoint}" if checkpoint is not None else "no checkpoint yet"
        return RunStatus.STOPPED, f"{died} and the job ended without a summary (killed?); {at}; {again}"
    if died:
        return RunStatus.FAILED, f"{died}; the job failed: {summary.error or 'see job.log'}"[:300]
    if code is not None and code < 0:  # killed by a signal it could not handle (SIGKILL: OOM killer, kill -9)
        return RunStatus.FAILED, f"the job was killed by {signal.Signals(-code).name} without a summary; {again}"
    return RunStatus.FAILED, f"job exited {code}: {last_error}"


def _ran_on(offer: Optional[Offer], summary: Optional[RunSummary]) -> Offer:
    """This machine's offer with the device the job reports (cpu, cuda:0) once it has run."""
    offer = offer or local_offer(0.0)
    device = summary.device if summary else None
    return offer.model_copy(update={"gpu": device}) if device else offer


def record_outcome(run_id: str, ledger: Ledger, summary: Optional[RunSummary], code: Optional[int], hours: float,
                   interrupted: bool, resume_step: Optional[int], *, died: Optional[str] = None,
                   last_error: str = "", expect: Optional[tuple[RunStatus, ...]] = None) -> bool:
    """Write a session's end in one update (hours added, resume step appended); False if `expect` did not hold."""
    current = ledger.get(run_id)
    checkpoint = checkpoint_step(RunFolder.of(ledger.home, run_id))
    status, note = outcome(run_id, summary, code, interrupted, died, last_error, checkpoint)
    actual_hours = (current.actual_hours or 0.0) + hours
    resumes = list(current.resumes) + ([resume_step] if resume_step is not None else [])
    return ledger.set_status(run_id, status, note, expect=expect, actual_hours=actual_hours,
                             actual_cost=actual_hours * current.rate, resumes=resumes,
                             summary=summary or current.summary, offer=_ran_on(current.offer, summary))


def last_sign_of_life(folder: RunFolder, began: float) -> float:
    """When the session was last seen working: its summary, else its log's last line, else its start."""
    times = [began]
    for path in (folder.summary, folder.log):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            pass
    return max(times)


def reconcile(ledger: Ledger) -> list[str]:
    """Close every local run whose launcher and job are both gone; returns their ids.

    A run from a tunecost that wrote no alive.json is closed too once no process runs its job (liveness.py's
    job_processes): its last session began when it last became running."""
    closed = []
    for record in ledger.list():
        if record.backend != "local" or record.status not in (RunStatus.PENDING, RunStatus.RUNNING):
            continue
        folder = RunFolder.of(ledger.home, record.id)
        session = read_session(folder)
        if live_pids(folder, session):
            continue
        if session is not None:
            began, resume_step = session.began, session.resume_step
            who = f"the launcher (pid {session.launcher.pid}) died" + ("" if session.job else " before the job "
                                                                       "started")
        else:
            began, resume_step = (record.history[-1].at if record.history else record.created_at).timestamp(), None
            who = "no process runs it (an earlier tunecost's run, without alive.json)"
        summary = summary_since(folder, began)
        hours = max(last_sign_of_life(folder, began) - began, 0.0) / 3600
        if record_outcome(record.id, ledger, summary, None, hours, False, resume_step, died=who,
                          expect=(RunStatus.PENDING, RunStatus.RUNNING)):
            closed.append(record.id)
    return closed
