"""`tunecost runs --repair`: a damaged ledger is moved aside (never deleted) and a new one is rebuilt from what the
run folders hold: each local run's job config and the job's own run_summary.json. In a healthy ledger, records
that cannot be read are set aside (the ledger's set_aside table keeps them whole) and the local ones rebuilt.

WHY from the folders: they are written by the job, independently of the ledger, so they outlive its damage.
Cloud runs keep their summary in the bucket, not here: they are listed as not rebuilt. A run whose job still
runs (liveness.py) is rebuilt as running, never as stopped: it could then be resumed beside itself.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from tunecost.job.run_summary import read_summary
from tunecost.launcher.ledger.liveness import live_pids, read_session
from tunecost.launcher.ledger.run_folder import RunFolder, run_folders
from tunecost.launcher.ledger.store import LEDGER_NAME, SET_ASIDE, Ledger
from tunecost.launcher.ledger.run_record import RunRecord, local_offer
from tunecost.launcher.ledger.run_status import STATUS_OF_STOP, RunStatus
from tunecost.planner.errors import UserError
from tunecost.planner.home import tunecost_home


def _read_json(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _created(folder: RunFolder) -> datetime:
    """The time in the run id (tc-YYMMDD-HHMMSS-xxxx), else the folder's."""
    try:
        return datetime.strptime(folder.run_id[3:16], "%y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.fromtimestamp(folder.path.stat().st_mtime, tz=timezone.utc)


def record_from_folder(folder: RunFolder) -> Optional[RunRecord]:
    """A local run's record from its folder; None when it is not one (a cloud run, or no job config)."""
    config = _read_json(folder.config)
    if config is None:
        return None
    summary = read_summary(folder.summary)
    # a folder with no summary (or no stop_reason in it) was interrupted before the job wrote one
    reason = summary.stop_reason if summary else None
    status = STATUS_OF_STOP[reason] if reason else RunStatus.STOPPED
    if live_pids(folder):  # its job still trains: running, so it is neither resumed nor closed beside itself
        status = RunStatus.RUNNING
    hours = (summary.total_seconds or 0.0) / 3600 if summary else None
    price = float(config.get("price_per_hour") or 0.0)
    return RunRecord(
        id=folder.run_id, status=status, backend="local", created_at=_created(folder),
        offer=local_offer(price, gpus=(summary.world_size if summary else None) or 1,
                          device=(summary.device if summary else None) or ""), method=str(config.get("method", "")),
        model=str(config.get("model", "")), output_dir=str(folder.output), summary=summary,
        actual_hours=hours, actual_cost=None if hours is None else hours * price, rate_source="rebuilt: job config",
    )


def _healthy(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        with closing(sqlite3.connect(path)) as db:
            ok = db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            return ok and bool(db.execute("SELECT count(*) FROM runs").fetchone())
    except sqlite3.DatabaseError:
        return False


@dataclass
class Repaired:
    """What --repair did: the damaged file's new name, records set aside (id, why), runs rebuilt, folders not."""

    backup: Optional[Path] = None
    set_aside: list[tuple[str, str]] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def message(self, path: Path) -> str:
        done = []
        if self.backup:
            done.append(f"moved the old ledger to {self.backup}")
        if self.set_aside:
            done.append(f"set aside {len(self.set_aside)} record(s) that cannot be read (kept in the {SET_ASIDE} "
                        f"table of {path}): " + ", ".join(f"{i} ({why})" for i, why in self.set_aside))
        done.append(f"rebuilt {len(self.rebuilt)} local run(s) from their folders"
                    + (f": {', '.join(self.rebuilt)}" if self.set_aside and self.rebuilt else ""))
        if self.skipped:
            done.append(f"not rebuilt (cloud runs or no job config): {', '.join(self.skipped)}")
        return "; ".join(done)


def _rebuild(ledger: Ledger, folder: RunFolder) -> bool:
    record = record_from_folder(folder)
    if record is None:
        return False
    session = read_session(folder)
    began = datetime.fromtimestamp(session.began, tz=timezone.utc) if session else None
    ledger.create(record.model_copy(update={"status": RunStatus.RUNNING, "started_at": began}))
    note = "rebuilt from the run folder by tunecost runs --repair"
    if record.status == RunStatus.RUNNING:
        ledger.set_status(record.id, RunStatus.RUNNING, f"{note}; its job is still running")
    else:
        ledger.set_status(record.id, record.status, note,
                          **{k: getattr(record, k) for k in ("actual_hours", "actual_cost")})
    return True


def repair(home: Optional[Path] = None) -> Repaired:
    """Set aside a healthy ledger's unreadable records, or move a damaged ledger aside (renamed, never deleted);
    then rebuild the local runs it lost from their folders."""
    home = tunecost_home(home)
    path, done = home / LEDGER_NAME, Repaired()
    runs = run_folders(home)
    if _healthy(path):
        ledger = Ledger(home)
        done.set_aside = ledger.set_aside_unreadable()
        if not done.set_aside:
            raise UserError(f"the ledger {path} is not damaged (it opens, passes sqlite's integrity check, and "
                            "every record reads); --repair rebuilds a damaged one only, since cloud runs cannot be "
                            "rebuilt")
        runs = [f for f in runs if f.run_id in {run_id for run_id, _ in done.set_aside}]
    elif path.exists():
        done.backup = path.with_name(f"{LEDGER_NAME}.damaged-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
        os.replace(path, done.backup)
        for extra in ("-wal", "-shm", "-journal"):  # sqlite's side files belong to the damaged copy
            side = path.with_name(LEDGER_NAME + extra)
            if side.exists():
                os.replace(side, done.backup.with_name(done.backup.name + extra))
    ledger = Ledger(home)
    for folder in runs:
        (done.rebuilt if _rebuild(ledger, folder) else done.skipped).append(folder.run_id)
    return done
